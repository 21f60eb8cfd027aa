"""Benchmark: the analysts' example queries and the daily report on a warehouse of 10M legs, on the published
file and on the DuckLake.

    .venv/bin/python bench/analyst_queries.py [--legs 10000000] [--rounds 5] [--report-rounds N] [--day YYYY-MM-DD]
                                              [--data-dir DIR] [--ducklake LIBPQ] [--ducklake-python PYTHON]

Builds a warehouse of --legs synthetic legs as bench/warehouse_build.py does (its ``prepare``: the legs written
into a fresh lake by bench/synthetic_lake.py, 90 days of them, then the full cycle, build_and_publish
(full_refresh=True), which publishes warehouse.duckdb), under DIR/legs-<N>. With --data-dir, a DIR/legs-<N> that
already holds a published warehouse of a finished cycle (warehouse.duckdb and build/state.json) is used as it
is, not built again: the 10M build takes minutes, the measurements a fraction of that. Delete that directory to
build afresh. Without --data-dir the warehouse goes to a temporary directory, removed at the end.

Then, --rounds times, in a process of its own for each warehouse:
  1. the 15 example queries of docs/analysts.md ("## Example queries", parsed from the document, so that the
     doc and this benchmark cannot drift), in order, on one read-only session opened as an analyst opens it
     (cdr.warehouse.ducklake.open_published: duckdb.connect(warehouse.duckdb, read_only=True), or the DuckLake attached
     read-only as ``warehouse``). Each query is timed from execute() to its last row, or, when it returns more
     than 10,000 rows, to its first 10,000 (what a client shows first; the rest is read untimed, to count it);
  2. the daily report (cdr.reporting.build.build_report, as the cdr_reports DAG makes it: every CSV and
     report.html) of --day, by default the last whole day of the synthetic data, into a scratch reports folder.
Each figure is the median of its rounds (--report-rounds, default --rounds, for the report).

With --ducklake (a PostgreSQL libpq string without dbname, e.g. ``host=127.0.0.1 user=postgres``) the same
warehouse is also published to a DuckLake by the product's ducklake.publish (one snapshot; catalog in a scratch
PostgreSQL database created and dropped here, data under DIR/legs-<N>/ducklake) and measured the same way. That
runs in --ducklake-python (default .venv-ducklake/bin/python when it exists, scripts/ducklake_env.sh makes it:
DuckDB 1.5.5 with the DuckLake extensions from PyPI; DuckDB 2.0's are not on PyPI, docs/scale-out.md), the file in
this Python. The publish reads the published warehouse.duckdb (DuckDB's v1.0 format, which 1.5.5 reads): the
same marts the cycle publishes to a DuckLake from its build database.

Targets: every query's median under 1 s; the report's under 30 s. Prints one table per warehouse (query, rows,
median, target, verdict) with the legs, the machine and its load average, and exits non-zero if a target is
missed. The figures are for this machine, in this run: other work on it shows in the load printed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from warehouse_build import ducklake_catalog, prepare, use  # noqa: E402

from cdr import config  # noqa: E402
from cdr.warehouse import ducklake  # noqa: E402

ANALYSTS_DOC = ROOT / "docs" / "analysts.md"
QUERY_COUNT = 15
QUERY_TARGET_S = 1.0
REPORT_TARGET_S = 30.0
# A query answering more rows than this is timed to its first batch of this many: what a client shows first.
FIRST_BATCH = 10_000
DUCKLAKE_PYTHON = ROOT / ".venv-ducklake" / "bin" / "python"

# The measurements run in a child process of the warehouse's Python (the DuckLake's may be another DuckDB); it
# writes its figures to the JSON file named by argv[2].
MEASURE_RUNNER = """
import json, sys
sys.path.insert(0, sys.argv[1])
from analyst_queries import measure
result = measure(sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7])
with open(sys.argv[2], "w") as fh:
    json.dump(result, fh)
"""

PUBLISH_RUNNER = """
import sys, time
from pathlib import Path
from cdr.warehouse import ducklake
started = time.perf_counter()
published = ducklake.publish(Path(sys.argv[1]))
print(f"  published DuckLake snapshot {published['snapshot']} ({published['counts']['marts.fct_cdr']:,} legs) "
      f"in {time.perf_counter() - started:.0f} s", flush=True)
"""

EXTENSIONS_CHECK = "import duckdb; from cdr.warehouse import ducklake; ducklake.load_extensions(duckdb.connect())"


def example_queries(doc: Path = ANALYSTS_DOC) -> list[tuple[str, str, str]]:
    """``(number, title, sql)`` of each example query of the document, in order."""
    text = doc.read_text()
    section = text.split("\n## Example queries\n", 1)[1].split("\n## ", 1)[0]
    queries = []
    for number, title, body in re.findall(r"^### (\d+)\. (.+?)\n(.*?)(?=^### |\Z)", section, re.M | re.S):
        sql = re.search(r"```sql\n(.*?)```", body, re.S)
        assert sql, f"query {number} of {doc} has no ```sql block"
        queries.append((number, title.strip(), sql.group(1).strip()))
    numbers = [int(number) for number, _, _ in queries]
    assert numbers == list(range(1, QUERY_COUNT + 1)), f"{doc} has example queries {numbers}, not 1-{QUERY_COUNT}"
    return queries


def timed_query(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[int, float]:
    """The rows ``sql`` returns, and its time: to the last row, or to the first FIRST_BATCH when there are more."""
    started = time.perf_counter()
    cursor = con.execute(sql)
    rows = len(cursor.fetchmany(FIRST_BATCH))
    to_first = time.perf_counter() - started
    while batch := cursor.fetchmany(100_000):
        rows += len(batch)
    return rows, to_first if rows > FIRST_BATCH else time.perf_counter() - started


def measure(target: str, rounds: int, report_rounds: int, day: str, reports_root: str) -> dict:
    """The queries' and the report's times on ``target`` ("file": warehouse.duckdb; "ducklake": the configured
    DuckLake), ``rounds`` times; run in a child process (MEASURE_RUNNER). A report this DuckDB cannot make fails
    the benchmark with its error."""
    import logging

    from cdr.reporting.build import build_report

    # the report's alerts (gaps, a late build) would repeat each round between the progress lines
    logging.getLogger("cdr").setLevel(logging.ERROR)
    warehouse = config.warehouse_path() if target == "file" else None
    queries = example_queries()
    times: dict[str, list[float]] = {number: [] for number, _, _ in queries}
    rows: dict[str, int] = {}
    report: list[float] = []
    for turn in range(max(rounds, report_rounds)):
        if turn < rounds:
            with ducklake.open_published(warehouse) as con:
                # its redraws would garble the progress lines; analysts' clients draw it or not, it costs no time
                con.execute("set enable_progress_bar = false")
                if turn == 0:
                    legs = con.execute("select count(*) from marts.fct_cdr").fetchone()[0]
                    calls = con.execute("select count(*) from marts.fct_call").fetchone()[0]
                    print(f"  {target}: {legs:,} legs, {calls:,} calls, DuckDB {duckdb.__version__}", flush=True)
                line = []
                for number, _, sql in queries:
                    n, seconds = timed_query(con, sql)
                    if rows.setdefault(number, n) != n:
                        raise RuntimeError(f"query {number} returned {n} rows, {rows[number]} before")
                    times[number].append(seconds)
                    line.append(f"{number}: {seconds:.2f}")
            print(f"  {target}, round {turn + 1}/{rounds}, queries (s): {', '.join(line)}", flush=True)
        if turn < report_rounds:
            started = time.perf_counter()
            made = build_report(date.fromisoformat(day), reports_root=Path(reports_root))
            report.append(time.perf_counter() - started)
            print(
                f"  {target}, round {turn + 1}/{report_rounds}, report of {day}: {report[-1]:.1f} s "
                f"({len(made.files)} CSV, {sum(made.files.values()):,} rows{'' if made.complete else ', INCOMPLETE'})",
                flush=True,
            )
    return {
        "target": target,
        "duckdb": duckdb.__version__,
        "legs": legs,
        "calls": calls,
        "queries": [
            {"number": n, "title": title, "rows": rows[n], "seconds": times[n], "median": statistics.median(times[n])}
            for n, title, _ in queries
        ],
        "report": {
            "day": day,
            "files": len(made.files),
            "rows": sum(made.files.values()),
            "seconds": report,
            "median": statistics.median(report),
        },
    }


def in_child(python: str, target: str, args, day: date, data: Path) -> dict:
    """``measure`` in a fresh process of ``python``, with this process's environment (CDR_DATA_DIR and, for the
    DuckLake, CDR_WAREHOUSE_CATALOG)."""
    reports = data / "bench-reports" / target
    report_rounds = args.report_rounds or args.rounds
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run(
            [
                python,
                "-c",
                MEASURE_RUNNER,
                str(ROOT / "bench"),
                out.name,
                target,
                str(args.rounds),
                str(report_rounds),
                day.isoformat(),
                str(reports),
            ],
            check=True,
            cwd=ROOT,
        )
        return json.loads(Path(out.name).read_text())


def holds_warehouse(data: Path) -> bool:
    """Whether ``data`` holds the published warehouse of a finished full cycle (its state.json has the cycle)."""
    state = data / "build" / "state.json"
    return (data / "warehouse.duckdb").exists() and state.exists() and bool(json.loads(state.read_text())["last_cycle"])


def report_day(warehouse: Path) -> date:
    """The last whole day of the synthetic legs (they end at an hour of the day before the build): the day
    before the newest local day of any call."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        newest = con.execute("select max(local_date) from marts.fct_call").fetchone()[0]
    return newest - timedelta(days=1)


def load() -> str:
    return ", ".join(f"{n:.2f}" for n in os.getloadavg())


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def table(result: dict) -> tuple[list[str], list[str]]:
    """One warehouse's markdown table, and the figures that missed their target."""
    lines = ["| query | rows | median s | target | verdict |", "|---|---:|---:|---|---|"]
    missed = []
    for q in result["queries"]:
        ok = q["median"] < QUERY_TARGET_S
        rows = f"{q['rows']:,}" + (f" (first {FIRST_BATCH:,} timed)" if q["rows"] > FIRST_BATCH else "")
        lines.append(
            f"| {q['number']}. {q['title']} | {rows} | {q['median']:.3f} | < {QUERY_TARGET_S:g} s | {verdict(ok)} |"
        )
        if not ok:
            missed.append(f"{result['target']}: query {q['number']} ({q['median']:.2f} s)")
    report = result["report"]
    ok = report["median"] < REPORT_TARGET_S
    figures = f"{report['rows']:,} in {report['files']} CSV"
    lines.append(
        f"| daily report of {report['day']} | {figures} | {report['median']:.1f} | < {REPORT_TARGET_S:g} s | "
        f"{verdict(ok)} |"
    )
    if not ok:
        missed.append(f"{result['target']}: the report ({report['median']:.1f} s)")
    return lines, missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--legs", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the queries; each figure is their median")
    parser.add_argument("--report-rounds", type=int, help="rounds of the report (default: --rounds)")
    parser.add_argument("--day", type=date.fromisoformat, help="the report's day (default: the last whole day)")
    parser.add_argument("--data-dir", type=Path, help="where to build, or find, DIR/legs-<N> (default: a temp dir)")
    parser.add_argument(
        "--ducklake", metavar="LIBPQ", help="also publish to, and measure, a DuckLake on this PostgreSQL"
    )
    parser.add_argument(
        "--ducklake-python",
        default=str(DUCKLAKE_PYTHON if DUCKLAKE_PYTHON.exists() else sys.executable),
        help="the Python whose DuckDB has the DuckLake extensions (default: .venv-ducklake's, else this one)",
    )
    args = parser.parse_args()
    # The file is the product's default target: it is built and measured with the DuckLake configured nowhere.
    os.environ.pop("CDR_WAREHOUSE_CATALOG", None)
    os.environ.pop("CDR_REPORT_MASK_NUMBERS", None)  # the report of the full warehouse, as the DAG makes by default
    if args.ducklake:
        # before a build of minutes, not after it
        check = subprocess.run([args.ducklake_python, "-c", EXTENSIONS_CHECK], capture_output=True, text=True)
        if check.returncode != 0:
            sys.exit(
                f"{args.ducklake_python} cannot load the DuckLake extensions (scripts/ducklake_env.sh makes "
                f".venv-ducklake, which can):\n{check.stderr.strip().splitlines()[-1]}"
            )

    base = args.data_dir or Path(tempfile.mkdtemp(prefix="cdr-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    started_at, load_start = datetime.now(UTC), load()
    print(
        f"analysts' queries and daily report benchmark in {base} ({os.cpu_count()} cores; load average "
        f"{load_start}; figures are for this machine, in this run)",
        flush=True,
    )
    size = {"legs": args.legs, "data": base / f"legs-{args.legs}"}
    if args.data_dir and holds_warehouse(size["data"]):
        built = datetime.fromtimestamp((size["data"] / "warehouse.duckdb").stat().st_mtime, UTC)
        print(
            f"reusing the warehouse of {args.legs:,} legs in {size['data']}, published {built:%Y-%m-%d %H:%M} UTC "
            f"(delete that directory to build it afresh)",
            flush=True,
        )
    else:
        size = prepare(base, args.legs, hand=False)
    use(size)
    day = args.day or report_day(config.warehouse_path())

    results = [in_child(sys.executable, "file", args, day, size["data"])]
    if args.ducklake:
        with ducklake_catalog(args.ducklake):
            use(size)  # CDR_WAREHOUSE_DATA_PATH under this size's directory
            # the catalog is new: Parquet files an earlier run's (dropped) catalog named are orphans
            shutil.rmtree(ducklake.data_path(), ignore_errors=True)
            print("  publishing warehouse.duckdb to the DuckLake (cdr.warehouse.ducklake.publish) ...", flush=True)
            publish = subprocess.run(
                [args.ducklake_python, "-c", PUBLISH_RUNNER, str(config.warehouse_path())],
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            if publish.returncode != 0:
                sys.exit(f"the DuckLake publish failed:\n{publish.stderr}")
            # DuckDB draws its progress bar over the publish's long statements: only the runner's own line
            print(publish.stdout.rstrip().splitlines()[-1], flush=True)
            results.append(in_child(args.ducklake_python, "ducklake", args, day, size["data"]))
    load_end = load()

    print()
    missed = []
    for result in results:
        where = (
            "the published file (warehouse.duckdb)"
            if result["target"] == "file"
            else "the DuckLake (catalog in PostgreSQL, data on local disk)"
        )
        report_rounds = len(result["report"]["seconds"])
        print(
            f"{where}: {result['legs']:,} legs, {result['calls']:,} calls, DuckDB {result['duckdb']}; medians of "
            f"{args.rounds} rounds (the report: {report_rounds})"
        )
        lines, missing = table(result)
        print("\n".join(lines))
        print()
        missed += missing
    print(
        f"{started_at:%Y-%m-%d}, {args.legs:,} legs; {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB; "
        f"load average (1, 5, 15 min) {load_start} at the start, {load_end} at the end"
    )
    if not args.data_dir:
        shutil.rmtree(base)
    if missed:
        sys.exit("missed: " + "; ".join(missed))


if __name__ == "__main__":
    main()
