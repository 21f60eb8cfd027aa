"""Benchmark: the whole warehouse cycle (the cdr_warehouse task) at two sizes, against a hand-written script.

    .venv/bin/python bench/warehouse_build.py [--legs 10000000] [--small-legs 1000000] [--new-legs 100000]
                                              [--rounds 3] [--data-dir DIR] [--keep] [--ducklake postgres:host=...]

For each size (--small-legs, then --legs; --small-legs 0 skips it), writes the legs into a fresh lake
(bench/synthetic_lake.py) and measures, each in its own process:
  1. the full cycle: cdr.warehouse.build.build_and_publish(full_refresh=True): `dbt build --full-refresh` (models, unit
     and data tests), source freshness, publish of warehouse.duckdb and of its masked copy, docs;
  2. the same transformation as a hand-written DuckDB script (bench/warehouse_build.sql), on the same lake;
  3. --rounds times, the sizes taking turns: --new-legs new legs (1% of 10M, from the last six hours, each
     read 30 s after it ended), then the incremental cycle, build_and_publish() as the pipeline runs it when
     only data changed. A size's incremental figure is the median of its rounds: this machine's speed drifts by
     a fifth within minutes, and taking turns lets a slow spell fall on both sizes alike.
With --ducklake (a PostgreSQL libpq string without dbname, e.g. ``host=127.0.0.1 user=postgres``) the cycles
publish to a DuckLake warehouse (cdr.warehouse.ducklake) in a scratch database created and dropped here, its data under
the data directory, instead of warehouse.duckdb: compare the publish step of the two runs (docs/scale-out.md).
It checks that the script and the dbt build agree leg for leg on the columns the script computes (COMPARED), after
the full cycle and again after the incremental ones (on the legs the script saw; every new leg must be there), and
prints each figure beside its target: the incremental cycle <= 10% of the full cycle, the full dbt build <= 1.5x
the hand-written script, the masked copy's publish no dearer than the plain publish, peak RSS < 4 GB, and the
same new legs at most 1.2x dearer on the large warehouse than on the small one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from synthetic_lake import write_legs  # noqa: E402

from cdr import config  # noqa: E402
from cdr.lake.writer import ensure_schema_file  # noqa: E402
from cdr.registry import lake_tables  # noqa: E402

RSS_TARGET_GB = 4.0
# The targets (issue #30): the incremental cycle at most this share of the full one; the full `dbt build` at most
# this many times the hand-written script; the same new legs at most this much dearer at --legs than at
# --small-legs; the masked copy's publish after a full build no dearer than the plain publish.
INCREMENTAL_SHARE = 0.10
BUILD_RATIO = 1.5
GROWTH = 1.2
MASKED_RATIO = 1.0
MEMORY_LIMIT = os.environ.get("CDR_DUCKDB_MEMORY_LIMIT", "2GB")  # as dbt_project/profiles.yml
HAND_SQL = ROOT / "bench" / "warehouse_build.sql"
SEEDS = ROOT / "dbt_project" / "seeds"
# The columns whose values the hand-written script and the dbt build must agree on, leg for leg: every column the
# script computes (the contract's columns of fct_cdr; not the model's audit trail, see warehouse_build.sql).
COMPARED = (
    "cdr_key",
    "source",
    "source_cdr_id",
    "call_key",
    "started_at",
    "ended_at",
    "date_key",
    "direction",
    "caller_number",
    "callee_number",
    "remote_number",
    "remote_country_code",
    "status",
    "source_status",
    "ring_seconds",
    "talk_seconds",
    "queue_wait_seconds",
    "agent_key",
    "queue_key",
    "recording_url",
)
# Not extracted_at: a Voicenter CDR received twice at the same received_at is a tie for keep_latest_read (the first
# copy wins, by received_at), and the synthetic lake's re-sent copies differ only in extracted_at, so either may win.

HAND_RUNNER = """
import sys, duckdb
from cdr.warehouse.dbt_plugin import register_functions
con = duckdb.connect(sys.argv[1])
# the settings the dbt profile gives the build
con.execute("set memory_limit = ?", [sys.argv[3]])
con.execute("set preserve_insertion_order = false")
register_functions(con)
import pycountry  # the countries dim_country lists
con.execute("create temp table countries as select unnest(?::varchar[]) as country_code",
            [[c.alpha_2 for c in pycountry.countries]])
con.execute(open(sys.argv[2]).read())
print(con.execute("select count(*) from fct_cdr").fetchone()[0])
"""


CYCLE_RUNNER = """
import logging, sys
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
from cdr.warehouse.build import build_and_publish
build_and_publish(full_refresh=sys.argv[1] == "full")
"""


CYCLE = [sys.executable, "-c", CYCLE_RUNNER]


def timed(label: str, command: list[str], env: dict[str, str], log: Path) -> tuple[float, float]:
    """Run ``command``; return its wall time (s) and its peak RSS (GB), read from the kernel at exit."""
    print(f"  {label} ...", flush=True)
    started = time.perf_counter()
    with open(log, "ab") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{label} failed: see {log}")
    peak_gb = usage.ru_maxrss / 1024 / 1024  # ru_maxrss is in KiB on Linux
    # CPU time of the process and the children it waited for (dbt): on a machine others load, steadier than the
    # wall time for comparing two runs
    cpu = usage.ru_utime + usage.ru_stime
    print(f"  {label}: {elapsed:.1f} s, {cpu:.1f} CPU s, peak RSS {peak_gb:.2f} GB", flush=True)
    return elapsed, peak_gb


def write_lake(lake: Path, legs: int, start: datetime, days: float, **options) -> dict[str, int]:
    """write_legs in a child process: Linux carries a parent's peak RSS over to its children, so this process
    must stay small for the builds' figures to be their own."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(write_legs, lake, legs, start, days, **options).result()


def legs_differing(dbt_db: Path, hand_db: Path, seen_only: bool = False) -> tuple[int, int]:
    """The legs in the dbt build's fct_cdr, and how many differ from the hand-written build's (with ``seen_only``,
    of the legs that build holds). Run in a child process (``in_child``): DuckDB's memory would otherwise stay
    this process's peak RSS, which the builds' children inherit."""
    con = duckdb.connect()
    con.execute("set enable_progress_bar = false")  # its redraws would garble the printed figures
    con.execute(f"attach '{dbt_db}' as dbt (read_only)")
    con.execute(f"attach '{hand_db}' as hand (read_only)")
    columns = ", ".join(COMPARED)
    built = "dbt.marts.fct_cdr semi join hand.fct_cdr using (cdr_key)" if seen_only else "dbt.marts.fct_cdr"
    rows = con.execute("select count(*) from dbt.marts.fct_cdr").fetchone()[0]
    differ = con.execute(
        f"select count(*) from ((select {columns} from {built} except all select {columns} from hand.fct_cdr)"
        f" union all (select {columns} from hand.fct_cdr except all select {columns} from dbt.marts.fct_cdr))"
    ).fetchone()[0]
    con.close()
    return rows, differ


def in_child(function, *args):
    """``function(*args)`` in a fresh process, so that its memory is not this process's (see write_lake)."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def slowest_nodes(target: Path, most: int = 8) -> str:
    """Where the cycle's ``dbt build`` spent its time (dbt_batch keeps each command's run_results): the slowest
    nodes, and the data tests' sum."""
    path = target / "run_results.build.json"
    if not path.exists():
        return "(no run_results.build.json)"
    results = json.loads(path.read_text())["results"]
    tests = sum(r["execution_time"] for r in results if r["unique_id"].startswith("test."))
    slowest = sorted(results, key=lambda r: -r["execution_time"])[:most]
    return f"data tests {tests:.1f} s in all; slowest: " + ", ".join(
        f"{r['unique_id'].split('.')[2]} {r['execution_time']:.1f}" for r in slowest
    )


def prepare(base: Path, legs: int, hand: bool) -> dict:
    """A fresh data directory of ``legs`` legs, its full cycle and (if ``hand``) the hand-written script on the
    same lake, checked to agree leg for leg with the build."""
    data = base / f"legs-{legs}"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    size = {
        "legs": legs,
        "data": data,
        "log": data / "bench.log",
        "now": datetime.now(UTC).replace(minute=0, second=0, microsecond=0),
    }
    env = use(size)
    lake = config.lake_dir()
    build = config.build_dir()
    print(f"{legs:,} legs in {data}", flush=True)
    started = time.perf_counter()
    for source, schema in lake_tables().items():
        ensure_schema_file(source, schema)
    written = write_lake(lake, legs, size["now"] - timedelta(days=91), 90)
    files = sum(1 for _ in lake.rglob("*.parquet"))
    print(
        f"  lake written: {sum(written.values()):,} legs (+{int(legs * 0.02):,} re-read copies) in {files:,} "
        f"files, {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    size["expected"] = sum(written.values())
    size["full"], size["rss_full"] = timed(
        "full cycle (build_and_publish(full_refresh=True))", [*CYCLE, "full"], env, size["log"]
    )
    size["full_steps"] = json.loads((build / "state.json").read_text())["last_cycle"]["steps"]
    size["full_nodes"] = slowest_nodes(build / "target")
    if hand:
        hand_db = size["hand_db"] = data / "hand.duckdb"
        sql = HAND_SQL.read_text().replace("{lake}", str(lake)).replace("{seeds}", str(SEEDS))
        hand_sql_file = data / "hand.sql"
        hand_sql_file.write_text(sql)
        size["hand"], size["rss_hand"] = timed(
            "hand-written SQL (bench/warehouse_build.sql)",
            [sys.executable, "-c", HAND_RUNNER, str(hand_db), str(hand_sql_file), MEMORY_LIMIT],
            env,
            size["log"],
        )
        rows, differ = in_child(legs_differing, build / "build.duckdb", hand_db)
        print(
            f"  legs in fct_cdr: {rows:,} (expected {size['expected']:,}); legs where dbt and the hand-written SQL "
            f"differ: {differ:,}",
            flush=True,
        )
        if differ or rows != size["expected"]:
            sys.exit("the full build and the expected legs or the hand-written SQL disagree")
    size["incrementals"] = []
    return size


def use(size: dict) -> dict[str, str]:
    """Point this process (and the environment of the children) at one size's data directory."""
    os.environ["CDR_DATA_DIR"] = str(size["data"])
    if os.environ.get("CDR_WAREHOUSE_CATALOG"):
        os.environ["CDR_WAREHOUSE_DATA_PATH"] = str(size["data"] / "ducklake")
    return {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_USE_COLORS": "false"}


def incremental(size: dict, new_legs: int, turn: int) -> None:
    """``new_legs`` more legs (new ids), then the incremental cycle."""
    env = use(size)
    lake = config.lake_dir()
    build = config.build_dir()
    first = size["legs"] * 2 + turn * new_legs
    # Every round's legs in the same window, the last hours, read 30 s after they ended: each round's are then
    # newer than the watermark the one before left (its newest read less lake_lookback_hours), as pulled legs are.
    added = write_lake(lake, new_legs, size["now"] - timedelta(hours=6), 0.2, first=first, read_delay=30)
    size["expected"] += sum(added.values())
    seconds, rss = timed(
        f"{size['legs']:,} legs, round {turn + 1}: +{sum(added.values()):,} legs, incremental cycle",
        [*CYCLE, "incremental"],
        env,
        size["log"],
    )
    last = json.loads((build / "state.json").read_text())["last_cycle"]
    if last["mode"] != "incremental":
        sys.exit(f"the build was not incremental: {last}")
    size["incrementals"].append(
        {"seconds": seconds, "rss": rss, "steps": last["steps"], "nodes": slowest_nodes(build / "target")}
    )


def check_after_increments(size: dict) -> None:
    """After the incremental cycles, fct_cdr holds every leg, and still agrees with the hand-written script's
    build of the lake as it was before them, leg for leg, on the legs that script saw."""
    size["rows"], size["differ"] = in_child(legs_differing, config.build_dir() / "build.duckdb", size["hand_db"], True)
    print(
        f"  {size['legs']:,} legs after the incremental cycles: {size['rows']:,} in fct_cdr (expected "
        f"{size['expected']:,}); of the legs the hand-written SQL built, {size['differ']:,} differ",
        flush=True,
    )


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--legs", type=int, default=10_000_000)
    parser.add_argument("--small-legs", type=int, default=1_000_000)
    parser.add_argument("--new-legs", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3, help="incremental cycles per size, the sizes in turn")
    parser.add_argument("--data-dir", type=Path, help="where to build (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the data directories")
    parser.add_argument("--ducklake", metavar="LIBPQ", help="publish to a DuckLake on this PostgreSQL instead")
    args = parser.parse_args()
    if args.ducklake:
        with ducklake_catalog(args.ducklake):
            run(args)
    else:
        run(args)


@contextlib.contextmanager
def ducklake_catalog(libpq: str):
    """A scratch PostgreSQL database as the DuckLake catalog of the cycles (CDR_WAREHOUSE_CATALOG)."""
    import psycopg2

    name = f"cdr_bench_ducklake_{os.getpid()}"
    admin = psycopg2.connect(f"{libpq} dbname=postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'create database "{name}"')
    os.environ["CDR_WAREHOUSE_CATALOG"] = f"postgres:{libpq} dbname={name}"
    print(f"publishing to a DuckLake, catalog in PostgreSQL database {name}", flush=True)
    try:
        yield
    finally:
        os.environ.pop("CDR_WAREHOUSE_CATALOG", None)
        with admin.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
        admin.close()


def run(args) -> None:

    base = args.data_dir or Path(tempfile.mkdtemp(prefix="cdr-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    print(
        f"warehouse cycle benchmark in {base} ({os.cpu_count()} cores; figures are for this machine, in this run)",
        flush=True,
    )
    sizes = [n for n in (args.small_legs, args.legs) if n]
    results = [prepare(base, n, hand=True) for n in sizes]
    # The sizes take turns, so that a slower spell of the machine falls on both alike; each size's figure is the
    # median of its rounds.
    for turn in range(args.rounds):
        for size in results:
            incremental(size, args.new_legs, turn)
    for size in results:
        use(size)
        check_after_increments(size)
        runs = sorted(size["incrementals"], key=lambda run: run["seconds"])
        median = runs[len(runs) // 2]
        size["incremental"], size["incremental_steps"], size["incremental_nodes"] = (
            median["seconds"],
            median["steps"],
            median["nodes"],
        )
        size["rss_incremental"] = max(run["rss"] for run in runs)

    print()
    for r in results:
        print(f"{r['legs']:,} legs, +{args.new_legs:,} new legs a round, {args.rounds} rounds")
        for mode in ("full", "incremental"):
            steps = r[f"{mode}_steps"]
            label = "full" if mode == "full" else "incremental (median)"
            print(
                f"  {label:<21} cycle {r[mode]:7.1f} s  ("
                + ", ".join(f"{name} {seconds:.1f}" for name, seconds in steps.items() if name != "total")
                + ")"
            )
            print(f"    {r[f'{mode}_nodes']}")
        print("  incremental cycles by round: " + ", ".join(f"{run['seconds']:.1f} s" for run in r["incrementals"]))
        if "hand" in r:
            print(f"  hand-written SQL             {r['hand']:7.1f} s")
    large = results[-1]
    full_build = large["full_steps"]["dbt build"]
    peak = max(v for r in results for k, v in r.items() if k.startswith("rss_"))
    print()
    print(f"targets, at {large['legs']:,} legs:")
    ratio = large["incremental"] / large["full"]
    print(
        f"  incremental cycle  {large['incremental']:7.1f} s = {ratio:6.1%} of the full cycle "
        f"({large['full']:.1f} s)       target <= {INCREMENTAL_SHARE:.0%}   {verdict(ratio <= INCREMENTAL_SHARE)}"
    )
    print(
        f"  full dbt build     {full_build:7.1f} s = {full_build / large['hand']:5.2f}x the hand-written SQL "
        f"({large['hand']:.1f} s)   target <= {BUILD_RATIO}x  {verdict(full_build <= BUILD_RATIO * large['hand'])}"
    )
    plain, masked = large["full_steps"]["publish"], large["full_steps"]["publish masked"]
    print(
        f"  masked publish     {masked:7.1f} s = {masked / plain:5.2f}x the plain publish ({plain:.1f} s), after the "
        f"full build   target <= {MASKED_RATIO}x  {verdict(masked <= MASKED_RATIO * plain)}"
    )
    print(f"  (the whole full cycle: {large['full'] / large['hand']:.2f}x the hand-written SQL)")
    print(
        f"  peak RSS           {peak:7.2f} GB (any process of the run)          target < {RSS_TARGET_GB:.0f} GB   "
        f"{verdict(peak < RSS_TARGET_GB)}"
    )
    if len(results) > 1:
        small = results[0]
        growth = large["incremental"] / small["incremental"]
        print(
            f"  the same {args.new_legs:,} new legs: {small['incremental']:.1f} s at {small['legs']:,} legs, "
            f"{large['incremental']:.1f} s at {large['legs']:,}: {growth:.2f}x   target <= {GROWTH}x  "
            f"{verdict(growth <= GROWTH)}"
        )
    bad = [r for r in results if "differ" in r and (r["differ"] or r["rows"] != r["expected"])]
    if bad:
        sys.exit("the dbt build and the expected legs or the hand-written SQL disagree")
    if not args.keep and not args.data_dir:
        shutil.rmtree(base)


if __name__ == "__main__":
    main()
