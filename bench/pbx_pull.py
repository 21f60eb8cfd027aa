"""Benchmark: While1 PBX CDRs pulled into storage, against what a user would pick instead (issues 15 and 30).

Every request is a POST signed with ``api_hash`` (md5 of PHP's http_build_query of the parameters and the key),
100 rows a page. A page server (bench/pull_server.py) renders every page before the first request and checks
the Bearer token and the signature. In the same run and against the same server, each in its own process:
  product: cdr.sources.pbx.extract.pull_interval into the lake (typed columns, UTC call times, _raw, fsync and rename),
           with no look-back, so that it reads the same pages as the others;
  dlt:     dlt's rest_api source into its DuckDB destination, with a page-number paginator that signs each page
           (the signature covers the page number, so no stock paginator can);
  plain:   a plain loop of requests + json + pyarrow writing one Parquet file of the typed columns: the floor.
All three sign with the product's http_build_query: PHP's exact bytes are not what is measured.
The server serves each data variant in turn (pull_server.VARIANTS; the vendor's example row is the one of its
document), with the targets of bench/kazoo_pull.py on every one.

dlt is not part of the product's install: `uv sync --frozen --group bench` adds it.
Run: .venv/bin/python bench/pbx_pull.py [--rows 200000] [--variant NAME ...] [--scale] [--rounds 1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pull_common import (
    bench_days,
    contender_main,
    emit,
    plain_table,
    require_dlt,
    run_dlt,
    run_variants,
    variant_arguments,
)
from pull_server import DAY, PBX_KEY, PBX_TOKEN, PBX_TZ, pbx_filters, signed_body

HEADERS = {
    "Authorization": f"Bearer {PBX_TOKEN}",
    "Content-Type": "application/x-www-form-urlencoded",
    "Accept": "application/json",
}


def product(url: str, workdir: Path) -> None:
    import logging
    import time
    from datetime import timedelta

    from cdr.sources.pbx.client import PbxClient
    from cdr.sources.pbx.extract import pull_interval

    logging.basicConfig(level=logging.WARNING)
    client = PbxClient(url, PBX_TOKEN, PBX_KEY, timezone_name=PBX_TZ)
    started = time.perf_counter()
    summary = pull_interval(client, DAY, DAY + timedelta(days=bench_days()), lookback_hours=0)
    emit(summary["rows_written"], time.perf_counter() - started)


def dlt(url: str, workdir: Path) -> None:
    import os
    import time

    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    import dlt as dlt_
    from dlt.sources.helpers.rest_client.paginators import BasePaginator
    from dlt.sources.rest_api import rest_api_source

    filters = pbx_filters(bench_days())

    class SignedPages(BasePaginator):
        """Page 1, 2, ... up to the envelope's max_page, each request body signed for its page."""

        def __init__(self) -> None:
            super().__init__()
            self.page = 1

        def init_request(self, request) -> None:
            request.data = signed_body(self.page, filters, PBX_KEY)

        def update_state(self, response, data=None) -> None:
            pagination = response.json().get("pagination") or {}
            if self.page >= int(pagination.get("max_page") or 0):
                self._has_next_page = False
            else:
                self.page += 1

        def update_request(self, request) -> None:
            request.data = signed_body(self.page, filters, PBX_KEY)

    started = time.perf_counter()
    source = rest_api_source(
        {
            "client": {"base_url": f"{url}/api/", "headers": HEADERS},
            "resources": [
                {
                    "name": "cdrs",
                    "endpoint": {
                        "path": "cdr",
                        "method": "POST",
                        "data_selector": "results",
                        "paginator": SignedPages(),
                    },
                }
            ],
        }
    )
    run_dlt(dlt_, source, "pbx", workdir, started)


def plain(url: str, workdir: Path) -> None:
    import json
    import time

    import pyarrow as pa
    import pyarrow.parquet as pq
    import requests

    from cdr.sources.pbx.records import INT_FIELDS, STRING_FIELDS

    schema = pa.schema([(name, pa.string()) for name in STRING_FIELDS] + [(name, pa.int64()) for name in INT_FIELDS])
    filters = pbx_filters(bench_days())
    started = time.perf_counter()
    session = requests.Session()
    rows, page, tables = 0, 1, []
    with pq.ParquetWriter(workdir / "plain.parquet", schema) as writer:
        while True:
            response = session.post(
                f"{url}/api/cdr", data=signed_body(page, filters, PBX_KEY), headers=HEADERS, timeout=30
            )
            response.raise_for_status()
            body = json.loads(response.content)
            if body["has_error"]:
                raise RuntimeError(body["messages"])
            # The typed columns as sent: the PBX sends lists (transfers) where the schema has text.
            results = [
                {k: (v if v is None or isinstance(v, (str, int)) else json.dumps(v)) for k, v in r.items()}
                for r in body["results"]
            ]
            tables.append(plain_table(results, schema))
            rows += tables[-1].num_rows
            last = page >= int(body["pagination"]["max_page"])
            if sum(t.num_rows for t in tables) >= GROUP_ROWS or last:
                writer.write_table(pa.concat_tables(tables))  # row groups of a useful size, as pyarrow advises
                tables = []
            if last:
                break
            page += 1
    emit(rows, time.perf_counter() - started)


GROUP_ROWS = 10_000  # the plain loop writes a row group per this many rows
CONTENDERS = {"product": product, "dlt": dlt, "plain": plain}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    variant_arguments(parser)
    args = parser.parse_args()
    if args.only is None or "dlt" in args.only:
        require_dlt()
    sys.exit(0 if run_variants(Path(__file__).resolve(), "pbx", "PBX", args) else 1)


if __name__ == "__main__":
    if not contender_main(CONTENDERS):
        main()
