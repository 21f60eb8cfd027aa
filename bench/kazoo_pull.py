"""Benchmark: one UTC day of KAZOO CDRs pulled into storage, against what a user would pick instead (issue 15).

A page server (bench/pull_server.py) renders every page before the first request, so the server is not what
limits; it checks the token from ``PUT /v2/api_auth`` and follows the ``start_key`` cursor. In the same run and
against the same server, each in its own process:
  product: cdr.kazoo.extract.pull_interval into the lake (typed columns, _raw, lineage, fsync and rename);
  dlt:     dlt's rest_api source, a cursor paginator on next_start_key/start_key, into its DuckDB destination;
  plain:   a plain loop of requests + json + pyarrow writing one Parquet file of the typed columns: the floor.
Targets: the product at least 3.5x dlt's rows/s and at most a third of its peak RSS, and at least 0.7x the
plain loop's rows/s. With --scale, the product also pulls --scale-rows CDRs (default 1,000,000) from a second
server: its peak RSS must stay that at --rows (at most 10% more), since the lake writer's buffers are bounded
in bytes, not in rows.

dlt is not part of the product's install: `uv sync --frozen --group bench` adds it (uv as in `make install`:
`uv`, or `.tools/bin/uv`). Run: .venv/bin/python bench/kazoo_pull.py [--rows 200000] [--page-size 1000] [--scale]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pull_common import contender_main, emit, race, require_dlt, run_contender, run_dlt, start_server, verdict
from pull_server import DAY, GREGORIAN_UNIX_OFFSET, KAZOO_ACCOUNT, KAZOO_KEY

WINDOW = {
    "created_from": int(DAY.timestamp()) + GREGORIAN_UNIX_OFFSET,
    "created_to": int(DAY.timestamp()) + 86_400 + GREGORIAN_UNIX_OFFSET - 1,
}
PAGE_SIZE = 1000  # overwritten from --page-size in the children through the environment


def page_size() -> int:
    import os

    return int(os.environ.get("BENCH_PAGE_SIZE", PAGE_SIZE))


def product(url: str, workdir: Path) -> None:
    import logging
    import time
    from datetime import timedelta

    from cdr.kazoo.client import KazooClient
    from cdr.kazoo.extract import pull_interval

    logging.basicConfig(level=logging.WARNING)
    client = KazooClient(url, KAZOO_KEY, KAZOO_ACCOUNT, page_size=page_size())
    started = time.perf_counter()
    summary = pull_interval(client, DAY, DAY + timedelta(days=1), default_region="US")
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
                        "params": {**WINDOW, "page_size": page_size()},
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

    from cdr.kazoo.records import INT_FIELDS, STRING_FIELDS

    schema = pa.schema([(name, pa.string()) for name in STRING_FIELDS] + [(name, pa.int64()) for name in INT_FIELDS])
    started = time.perf_counter()
    session = requests.Session()
    token = session.put(f"{url}/v2/api_auth", json={"data": {"api_key": KAZOO_KEY}}, timeout=30).json()["auth_token"]
    rows, key, tables = 0, None, []
    with pq.ParquetWriter(workdir / "plain.parquet", schema) as writer:
        while True:
            params = {**WINDOW, "page_size": page_size(), **({"start_key": key} if key else {})}
            response = session.get(
                f"{url}/v2/accounts/{KAZOO_ACCOUNT}/cdrs", params=params, headers={"X-Auth-Token": token}, timeout=30
            )
            response.raise_for_status()
            body = json.loads(response.content)
            tables.append(pa.Table.from_pylist(body["data"], schema=schema))
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
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--scale", action="store_true", help="also pull --scale-rows with the product; compare RSS")
    parser.add_argument("--scale-rows", type=int, default=1_000_000)
    parser.add_argument("--only", choices=sorted(CONTENDERS), action="append", help="run only these contenders")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each contender, in turn; the best counts")
    args = parser.parse_args()
    require_dlt()
    env = {"BENCH_PAGE_SIZE": str(args.page_size)}
    script = Path(__file__).resolve()
    with tempfile.TemporaryDirectory(prefix="bench-kazoo-") as tmp:
        results = race(
            script,
            "kazoo",
            "KAZOO",
            f"KAZOO: {args.rows:,} CDRs, page_size {args.page_size}, one UTC day",
            args.rows,
            args.page_size,
            Path(tmp),
            args.only,
            env,
            args.rounds,
        )
        if args.scale:
            with start_server("kazoo", args.scale_rows, args.page_size) as server:
                print(f"\nKAZOO page server: {server.banner}", flush=True)
                big = run_contender(script, "product", server.url, Path(tmp) / "product-scale", env)
            assert big.rows == args.scale_rows, big.rows
            small = results.get("product")
            if small is not None:
                ratio = big.rss_mb / small.rss_mb
                print(f"\n{'product peak RSS':34}{args.rows:>12,}{args.scale_rows:>12,}{'ratio':>8}{'target':>10}")
                print(
                    f"{'':34}{small.rss_mb:>9,.0f} MB{big.rss_mb:>9,.0f} MB{ratio:>7.2f}x{'<= 1.10x':>10}"
                    f"   {verdict(ratio <= 1.10)}"
                )
                print(f"(product at {args.scale_rows:,}: {big.rate:,.0f} rows/s)")


if __name__ == "__main__":
    if not contender_main(CONTENDERS):
        main()
