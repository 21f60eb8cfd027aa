"""Benchmark: the warehouse build on ten million synthetic legs across the four sources.

    .venv/bin/python bench/warehouse_build.py [--legs 10000000] [--data-dir DIR] [--keep]

Writes the legs into a fresh lake (bench/synthetic_lake.py), then measures, each in its own process:
  1. the full build: `dbt run --full-refresh` (every model, from the whole lake);
  2. the incremental build after 1% new data: `dbt run --select fct_cdr+`, what the pipeline runs when only
     data changed (cdr.warehouse.DATA_MODELS: the views and static tables change only with the code);
  3. the same transformation as one hand-written DuckDB statement (bench/warehouse_build.sql);
and, for the record, the data tests (`dbt test`) and the publish of warehouse.duckdb. It checks that the
hand-written statement and the dbt build agree row for row, and prints each figure beside its target:
incremental <= 10% of full, full <= 2x hand-written, peak RSS < 4 GB.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from synthetic_lake import write_legs  # noqa: E402

from cdr import config  # noqa: E402
from cdr.lake import ensure_schema_file  # noqa: E402
from cdr.warehouse import DATA_MODELS  # noqa: E402
from cdr.sources import LAKE_TABLES  # noqa: E402

RSS_TARGET_GB = 4.0
MEMORY_LIMIT = os.environ.get("CDR_DUCKDB_MEMORY_LIMIT", "2GB")  # as dbt_project/profiles.yml
HAND_SQL = ROOT / "bench" / "warehouse_build.sql"
SEEDS = ROOT / "dbt_project" / "seeds"
# The columns whose values the hand-written statement and the dbt build must agree on, leg for leg.
COMPARED = ("cdr_key", "call_key", "started_at", "direction", "caller_number", "callee_number",
            "remote_country_code", "status", "talk_seconds", "agent_key", "queue_key")

HAND_RUNNER = """
import sys, duckdb
from cdr.dbt_plugin import register_functions
con = duckdb.connect(sys.argv[1])
# the settings the dbt profile gives the build
con.execute("set memory_limit = ?", [sys.argv[3]])
con.execute("set preserve_insertion_order = false")
register_functions(con)
con.execute(open(sys.argv[2]).read())
print(con.execute("select count(*) from fct_cdr").fetchone()[0])
"""


# How long libphonenumber takes over every distinct number of the build, alone: the share of the build that
# normalising numbers costs, whichever way it is run (in the build, as here, or at load time).
PHONES_RUNNER = """
import sys, time, duckdb
from cdr.dbt_plugin import register_functions
con = duckdb.connect()
register_functions(con)
con.execute("attach ? as dbt (read_only)", [sys.argv[1]])
con.execute(\"\"\"create table numbers as select distinct number, phone_region from (
    select caller_number_as_sent as number, source from dbt.marts.fct_cdr union all
    select callee_number_as_sent, source from dbt.marts.fct_cdr) legs
    join (values ('kazoo', 'US'), ('pbx', 'RO'), ('enigma', 'ZA'), ('voicenter', 'IL')) r(source, phone_region)
    using (source) where number is not null\"\"\")
started = time.perf_counter()
con.execute("create table parsed as select cdr_e164(number, phone_region), cdr_country(number, phone_region) from numbers")
print(con.execute("select count(*) from numbers").fetchone()[0], time.perf_counter() - started)
"""


def hms(sql: str) -> str:
    """{hms}col{end_hms}: "HH:MM:SS" to seconds, as the dbt macro hms_to_seconds does."""
    return re.sub(
        r"\{hms\}(\w+)\{end_hms\}",
        lambda m: (f"case when regexp_full_match({m[1]}, '[0-9]+:[0-5][0-9]:[0-5][0-9]') then "
                   f"cast(split_part({m[1]}, ':', 1) as integer) * 3600 + cast(split_part({m[1]}, ':', 2) as integer) * 60"
                   f" + cast(split_part({m[1]}, ':', 3) as integer) end"),
        sql,
    )


def timed(label: str, command: list[str], env: dict[str, str], log: Path) -> tuple[float, float]:
    """Run ``command``; return its wall time (s) and its peak RSS (GB), read from the kernel at exit."""
    print(f"  {label} ...", flush=True)
    started = time.perf_counter()
    with open(log, "ab") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT / "dbt_project")
        _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{label} failed: see {log}")
    peak_gb = usage.ru_maxrss / 1024 / 1024  # ru_maxrss is in KiB on Linux
    print(f"  {label}: {elapsed:.1f} s, peak RSS {peak_gb:.2f} GB", flush=True)
    return elapsed, peak_gb


def write_lake(lake: Path, legs: int, start: datetime, days: float, **options) -> dict[str, int]:
    """write_legs in a child process: Linux carries a parent's peak RSS over to its children, so this process
    must stay small for the builds' figures to be their own."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(write_legs, lake, legs, start, days, **options).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--legs", type=int, default=10_000_000)
    parser.add_argument("--data-dir", type=Path, help="where to build (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    args = parser.parse_args()

    data = args.data_dir or Path(tempfile.mkdtemp(prefix="cdr-bench-"))
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    os.environ["CDR_DATA_DIR"] = str(data)
    lake = config.lake_dir()
    log = data / "bench.log"
    build = config.build_dir()
    env = {**os.environ, "DBT_TARGET_PATH": str(build / "target"), "DBT_LOG_PATH": str(build / "logs"),
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_USE_COLORS": "false"}
    dbt = [str(Path(sys.executable).with_name("dbt"))]
    dirs = ["--project-dir", str(config.DBT_PROJECT_DIR), "--profiles-dir", str(config.DBT_PROJECT_DIR)]

    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    print(f"warehouse build benchmark: {args.legs:,} legs in {data}", flush=True)
    started = time.perf_counter()
    for source, schema in LAKE_TABLES.items():
        ensure_schema_file(source, schema)
    legs = write_lake(lake, args.legs, now - timedelta(days=91), 90)
    files = sum(1 for _ in lake.rglob("*.parquet"))
    print(f"  lake written: {sum(legs.values()):,} legs (+{int(args.legs * 0.02):,} re-read copies) in {files:,} "
          f"files, {time.perf_counter() - started:.0f} s", flush=True)

    subprocess.run([*dbt, "seed", *dirs], env=env, check=True, stdout=subprocess.DEVNULL, cwd=ROOT / "dbt_project")
    full, rss_full = timed("full build (dbt run --full-refresh)", [*dbt, "run", "--full-refresh", *dirs], env, log)
    tests, rss_tests = timed("data tests (dbt test)", [*dbt, "test", *dirs], env, log)

    new = args.legs // 100
    added = write_lake(lake, new, now - timedelta(hours=20), 0.8, first=args.legs * 2, read_delay=30)
    print(f"  1% new data: {sum(added.values()):,} legs", flush=True)
    incremental, rss_incr = timed(f"incremental build (dbt run --select {' '.join(DATA_MODELS)})",
                                  [*dbt, "run", "--select", *DATA_MODELS, *dirs], env, log)

    publish_started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "from cdr.warehouse import publish_warehouse; publish_warehouse()"],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    publish = time.perf_counter() - publish_started
    print(f"  publish warehouse.duckdb: {publish:.1f} s", flush=True)

    hand_db = data / "hand.duckdb"
    sql = hms(HAND_SQL.read_text().replace("{lake}", str(lake)).replace("{seeds}", str(SEEDS)))
    hand_sql_file = data / "hand.sql"
    hand_sql_file.write_text(sql)
    hand, rss_hand = timed("hand-written SQL (one statement)",
                           [sys.executable, "-c", HAND_RUNNER, str(hand_db), str(hand_sql_file), MEMORY_LIMIT], env, log)

    numbers, parsing = subprocess.run([sys.executable, "-c", PHONES_RUNNER, str(build / "build.duckdb")], env=env,
                                      check=True, capture_output=True, text=True).stdout.split()[-2:]
    numbers, parsing = int(numbers), float(parsing)

    con = duckdb.connect()
    con.execute(f"attach '{build / 'build.duckdb'}' as dbt (read_only)")
    con.execute(f"attach '{hand_db}' as hand (read_only)")
    columns = ", ".join(COMPARED)
    expected = sum(legs.values()) + sum(added.values())
    dbt_rows = con.execute("select count(*) from dbt.marts.fct_cdr").fetchone()[0]
    differ = con.execute(
        f"select count(*) from ((select {columns} from dbt.marts.fct_cdr except select {columns} from hand.fct_cdr)"
        f" union all (select {columns} from hand.fct_cdr except select {columns} from dbt.marts.fct_cdr))"
    ).fetchone()[0]
    con.close()

    peak = max(rss_full, rss_tests, rss_incr, rss_hand)
    print()
    print(f"legs in fct_cdr: {dbt_rows:,} (expected {expected:,}); legs where dbt and the hand-written SQL "
          f"differ: {differ:,}")
    print(f"full build          {full:7.1f} s")
    print(f"incremental (+1%)   {incremental:7.1f} s  = {incremental / full:6.1%} of full   target <= 10%   "
          f"{'MET' if incremental <= 0.10 * full else 'MISSED'}")
    print(f"hand-written SQL    {hand:7.1f} s  full = {full / hand:5.2f}x hand-written  target <= 2x    "
          f"{'MET' if full <= 2 * hand else 'MISSED'}")
    print(f"peak RSS            {peak:7.2f} GB                                target < {RSS_TARGET_GB:.0f} GB   "
          f"{'MET' if peak < RSS_TARGET_GB else 'MISSED'}")
    print(f"(for the record: dbt test {tests:.1f} s, publish {publish:.1f} s; libphonenumber alone over the "
          f"{numbers:,} distinct numbers: {parsing:.1f} s, {parsing / numbers * 1e6:.0f} us a number)")
    if dbt_rows != expected or differ:
        sys.exit("the dbt build and the expected legs or the hand-written SQL disagree")
    if not args.keep and not args.data_dir:
        shutil.rmtree(data)


if __name__ == "__main__":
    main()
