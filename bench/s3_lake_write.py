"""Benchmark: one UTC day of KAZOO CDRs pulled into the lake on local disk and on an S3 server (issue 16).

The same pre-rendered page server (bench/pull_server.py) and the product's pull (kazoo.extract.pull_interval)
write the day once into a local lake and once into ``CDR_LAKE_URL=s3://...`` on a moto_server on loopback (dev
dependency ``moto[server]``), each in its own process. Printed: rows/s, the lake's MB/s (Parquet bytes committed
per second, manifests included) and peak RSS, and the S3 write's share of the local one. moto keeps objects in
its own memory, in Python: a real object store is usually faster to write to, a remote one slower to reach.
Target: the S3 lake at least half the local lake's rows/s (the upload happens once per unit, at its commit).

Run: .venv/bin/python bench/s3_lake_write.py [--rows 200000] [--page-size 1000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.s3server starts the S3 server
from pull_common import contender_main, emit, run_contender, start_server, verdict
from pull_server import DAY, KAZOO_ACCOUNT, KAZOO_KEY


def product(url: str, workdir: Path) -> None:
    import json
    import logging
    import time
    from datetime import timedelta

    from cdr.lake.writer import LakeWriter
    from cdr.sources.kazoo.client import KazooClient
    from cdr.sources.kazoo.extract import pull_interval

    logging.basicConfig(level=logging.WARNING)
    commit, spent = LakeWriter.commit, []

    def timed_commit(self):
        began = time.perf_counter()
        try:
            return commit(self)
        finally:
            spent.append(time.perf_counter() - began)

    LakeWriter.commit = timed_commit
    client = KazooClient(url, KAZOO_KEY, KAZOO_ACCOUNT, page_size=int(os.environ["BENCH_PAGE_SIZE"]))
    started = time.perf_counter()
    summary = pull_interval(client, DAY, DAY + timedelta(days=1), default_region="US")
    elapsed = time.perf_counter() - started
    print(json.dumps({"bytes": lake_bytes(), "commit_seconds": sum(spent)}), flush=True)
    emit(summary["rows_written"], elapsed)


def lake_bytes() -> int:
    from cdr import config
    from cdr.lake import objectstore

    url = config.lake_url()
    if objectstore.is_object_url(url):
        found = objectstore.filesystem().find(url[len("s3://") :], detail=True)
        return sum(info.get("size") or 0 for info in found.values())
    return sum(p.stat().st_size for p in Path(url).rglob("*") if p.is_file())


CONTENDERS = {"product": product}


def main() -> None:
    import json

    from tests.s3server import moto_server

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args()
    script = Path(__file__).resolve()
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-s3lake-") as tmp, moto_server() as s3:
        s3.client().create_bucket(Bucket="bench-lake")
        with start_server("kazoo", args.rows, page_size=args.page_size) as server:
            print(f"KAZOO page server: {server.banner}\nS3 server: moto_server at {s3.endpoint}", flush=True)
            for name, extra in (
                ("local", {}),
                ("s3", {**s3.env(), "CDR_LAKE_URL": "s3://bench-lake/cdr/lake"}),
            ):
                env = {"BENCH_PAGE_SIZE": str(args.page_size), **extra}
                result = run_contender(script, "product", server.url, Path(tmp) / name, env)
                out = (Path(tmp) / name / "product.out").read_text().strip().splitlines()
                facts = next(json.loads(line) for line in reversed(out) if line.startswith('{"bytes"'))
                results[name] = (result, facts["bytes"], facts["commit_seconds"])
    print(f"\nKAZOO: {args.rows:,} CDRs, page_size {args.page_size}, one UTC day, into the lake")
    print("(MB/s: the lake's bytes over the whole pull; commit: closing the files, and on S3 uploading them)")
    print(
        f"{'lake':8}{'rows':>10}{'seconds':>10}{'rows/s':>10}{'MB':>8}{'MB/s':>8}"
        f"{'commit s':>10}{'commit MB/s':>13}{'peak RSS':>10}"
    )
    for name, (result, size, committing) in results.items():
        print(
            f"{name:8}{result.rows:>10,}{result.seconds:>10.2f}{result.rate:>10,.0f}{size / 1e6:>8.1f}"
            f"{size / 1e6 / result.seconds:>8.1f}{committing:>10.2f}{size / 1e6 / max(committing, 1e-9):>13.1f}"
            f"{result.rss_mb:>7,.0f} MB"
        )
    ratio = results["s3"][0].rate / results["local"][0].rate
    print(f"\nS3 lake rows/s / local lake rows/s: {ratio:.2f}x (target >= 0.50x)   {verdict(ratio >= 0.5)}")


if __name__ == "__main__":
    if not contender_main(CONTENDERS):
        main()
