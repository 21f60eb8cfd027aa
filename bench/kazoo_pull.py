"""Benchmark: KAZOO CDRs pulled into storage, against what a user would pick instead (issues 15 and 30).

A page server (bench/pull_server.py) renders every page before the first request, so the server is not what
limits; it checks the token from ``PUT /v2/api_auth`` and follows the ``start_key`` cursor. It serves each data
variant in turn (pull_server.VARIANTS: the generator's rows, shuffled fields, numbers as strings, blanks, rows
of 50 to 5,000 bytes, the vendor's own example rows with fresh ids, two days, Unix start times, pages of 50 and
5,000), so that no figure holds only for rows this benchmark shaped. On every variant, in the same run and
against the same server, each in its own process:
  product: cdr.sources.kazoo.extract.pull_interval into the lake (typed columns, _raw, lineage, fsync and rename);
  dlt:     dlt's rest_api source, a cursor paginator on next_start_key/start_key, into its DuckDB destination;
  plain:   a plain loop of requests + json + pyarrow writing one Parquet file of the typed columns: the floor.
Targets (issue 30), on every variant: the product at least 4x dlt's rows/s and at least 0.9x the plain loop's,
its peak RSS at most a third of dlt's; with --scale, the product also pulls --scale-rows CDRs (default
1,000,000) of the variant, and its peak RSS must stay that at --rows (at most 10% more): the lake writer's
buffers are bounded in bytes, not in rows.

dlt is not part of the product's install: `uv sync --frozen --group bench` adds it (uv as in `make install`:
`uv`, or `.tools/bin/uv`). Run: .venv/bin/python bench/kazoo_pull.py [--rows 200000] [--variant NAME ...]
[--scale] [--rounds 1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pull_common import (
    bench_days,
    bench_page_size,
    contender_main,
    emit,
    plain_table,
    require_dlt,
    run_dlt,
    run_variants,
    variant_arguments,
)
from pull_server import DAY, GREGORIAN_UNIX_OFFSET, KAZOO_ACCOUNT, KAZOO_KEY


def window() -> dict[str, int]:
    """The variant's days as Crossbar's creation window (Gregorian seconds, both ends inclusive)."""
    first = int(DAY.timestamp()) + GREGORIAN_UNIX_OFFSET
    return {"created_from": first, "created_to": first + 86_400 * bench_days() - 1}


def page_size() -> int:
    return bench_page_size(1000)


def product(url: str, workdir: Path) -> None:
    import logging
    import time
    from datetime import timedelta

    from cdr.sources.kazoo.client import KazooClient
    from cdr.sources.kazoo.extract import pull_interval

    logging.basicConfig(level=logging.WARNING)
    client = KazooClient(url, KAZOO_KEY, KAZOO_ACCOUNT, page_size=page_size())
    started = time.perf_counter()
    summary = pull_interval(client, DAY, DAY + timedelta(days=bench_days()), default_region="US")
    emit(summary["rows_written"], time.perf_counter() - started)


def dlt(url: str, workdir: Path) -> None:
    import os
    import time

    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    import dlt as dlt_
    import requests
    from dlt.sources.rest_api import rest_api_source

    started = time.perf_counter()
    # Crossbar's token comes from a PUT that rest_api has no auth type for; the token then goes in a header.
    token = requests.put(f"{url}/v2/api_auth", json={"data": {"api_key": KAZOO_KEY}}, timeout=30).json()["auth_token"]
    source = rest_api_source(
        {
            "client": {
                "base_url": f"{url}/v2/",
                "auth": {"type": "api_key", "name": "X-Auth-Token", "api_key": token, "location": "header"},
                "paginator": {"type": "cursor", "cursor_path": "next_start_key", "cursor_param": "start_key"},
            },
            "resources": [
                {
                    "name": "cdrs",
                    "endpoint": {
                        "path": f"accounts/{KAZOO_ACCOUNT}/cdrs",
                        "data_selector": "data",
                        "params": {**window(), "page_size": page_size()},
                    },
                }
            ],
        }
    )
    run_dlt(dlt_, source, "kazoo", workdir, started)


def plain(url: str, workdir: Path) -> None:
    import json
    import time

    import pyarrow as pa
    import pyarrow.parquet as pq
    import requests

    from cdr.sources.kazoo.records import INT_FIELDS, STRING_FIELDS

    schema = pa.schema([(name, pa.string()) for name in STRING_FIELDS] + [(name, pa.int64()) for name in INT_FIELDS])
    started = time.perf_counter()
    session = requests.Session()
    token = session.put(f"{url}/v2/api_auth", json={"data": {"api_key": KAZOO_KEY}}, timeout=30).json()["auth_token"]
    rows, key, tables = 0, None, []
    with pq.ParquetWriter(workdir / "plain.parquet", schema) as writer:
        while True:
            params = {**window(), "page_size": page_size(), **({"start_key": key} if key else {})}
            response = session.get(
                f"{url}/v2/accounts/{KAZOO_ACCOUNT}/cdrs", params=params, headers={"X-Auth-Token": token}, timeout=30
            )
            response.raise_for_status()
            body = json.loads(response.content)
            tables.append(plain_table(body["data"], schema))
            rows += tables[-1].num_rows
            key = body.get("next_start_key")
            if sum(t.num_rows for t in tables) >= GROUP_ROWS or not key:
                writer.write_table(pa.concat_tables(tables))  # row groups of a useful size, as pyarrow advises
                tables = []
            if not key:
                break
    emit(rows, time.perf_counter() - started)


GROUP_ROWS = 10_000  # the plain loop writes a row group per this many rows
CONTENDERS = {"product": product, "dlt": dlt, "plain": plain}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    variant_arguments(parser)
    args = parser.parse_args()
    if args.only is None or "dlt" in args.only:
        require_dlt()
    sys.exit(0 if run_variants(Path(__file__).resolve(), "kazoo", "KAZOO", args) else 1)


if __name__ == "__main__":
    if not contender_main(CONTENDERS):
        main()
