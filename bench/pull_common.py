"""What the pull benchmarks share: the page server in its own process, each contender in its own process, and
the table of figures beside their targets.

A contender is a function in the benchmark's own file, run as ``python bench/<file>.py --contender NAME URL DIR``
in a fresh interpreter, so that no contender pays for another's imports or leftovers. It prints one JSON line,
``{"rows": N, "seconds": S}``, timed from before its first request to after its data is durable; its peak RSS is
what the kernel reports for that child when it is reaped (``os.wait4``), imports included.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "include" / "simulators"))


def start_server(source: str, rows: int, page_size: int, timeout: float = 600.0):
    """The pre-rendered page server (pull_server.py) on a free loopback port, as the simulators are started."""
    from launch import start

    return start(
        str(BENCH / "pull_server.py"), source, "--rows", str(rows), "--page-size", str(page_size), timeout=timeout
    )


def run_dlt(dlt_, source, name: str, workdir: Path, started: float) -> None:
    """dlt's pipeline into its DuckDB destination, at its best: Parquet load files (its default for DuckDB,
    INSERT statements, took 350 s and 3.7 GB for 200,000 KAZOO rows); emits the rows it holds, timed from
    ``started`` (before the contender's first request)."""
    pipeline = dlt_.pipeline(
        pipeline_name=f"bench_{name}",
        pipelines_dir=str(workdir / "dlt_pipelines"),
        destination=dlt_.destinations.duckdb(str(workdir / "dlt.duckdb")),
        dataset_name=name,
    )
    pipeline.run(source, loader_file_format="parquet")
    elapsed = time.perf_counter() - started
    with pipeline.sql_client() as client:
        rows = client.execute_sql("select count(*) from cdrs")[0][0]
    emit(rows, elapsed)


@dataclass
class Result:
    name: str
    rows: int
    seconds: float
    rss_mb: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def run_contender(script: Path, name: str, url: str, workdir: Path, extra_env: dict[str, str] | None = None) -> Result:
    """Run one contender in a child process; its peak RSS comes from the kernel when the child is reaped."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CDR_DATA_DIR": str(workdir), **(extra_env or {})}
    out_path = workdir / f"{name}.out"
    with open(out_path, "w") as out, open(workdir / f"{name}.err", "w") as err:
        child = subprocess.Popen(
            [sys.executable, str(script), "--contender", name, url, str(workdir)],
            stdout=out,
            stderr=err,
            env=env,
            cwd=ROOT,
        )
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(
            f"contender {name} failed (exit {child.returncode}):\n{(workdir / f'{name}.err').read_text()[-3000:]}"
        )
    report = json.loads(out_path.read_text().strip().splitlines()[-1])
    return Result(name, int(report["rows"]), float(report["seconds"]), usage.ru_maxrss / 1024)


def emit(rows: int, seconds: float) -> None:
    """A contender's last line: what it wrote and how long it took."""
    print(json.dumps({"rows": rows, "seconds": seconds}), flush=True)


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def print_table(title: str, product: Result, dlt: Result, floor: Result) -> list[bool]:
    """Figures and targets: >= 3.5x dlt's rows/s, <= 1/3 of its peak RSS, >= 0.7x the plain loop's rows/s."""
    print(f"\n{title}")
    print(f"{'contender':34}{'rows':>10}{'seconds':>9}{'rows/s':>10}{'peak RSS':>11}")
    for result, label in (
        (product, "product (pull_interval -> lake)"),
        (dlt, "dlt rest_api -> duckdb"),
        (floor, "plain loop (requests+json+pyarrow)"),
    ):
        print(f"{label:34}{result.rows:>10,}{result.seconds:>9.2f}{result.rate:>10,.0f}{result.rss_mb:>8,.0f} MB")
    checks = [
        ("product / dlt rows/s", product.rate / dlt.rate, ">= 3.5x", product.rate >= 3.5 * dlt.rate, "x"),
        ("product / dlt peak RSS", product.rss_mb / dlt.rss_mb, "<= 0.33x", product.rss_mb * 3 <= dlt.rss_mb, "x"),
        ("product / plain loop rows/s", product.rate / floor.rate, ">= 0.7x", product.rate >= 0.7 * floor.rate, "x"),
    ]
    print(f"{'ratio':34}{'figure':>10}{'target':>11}")
    for label, figure, target, ok, unit in checks:
        print(f"{label:34}{figure:>9.2f}{unit}{target:>11}   {verdict(ok)}")
    return [ok for *_, ok, _ in checks]


def contender_main(contenders: dict[str, Callable[[str, Path], None]]) -> bool:
    """``--contender NAME URL DIR`` runs one contender (in the child); returns False when not asked to."""
    if len(sys.argv) == 5 and sys.argv[1] == "--contender":
        contenders[sys.argv[2]](sys.argv[3], Path(sys.argv[4]))
        return True
    return False


def parquet_rows(folder: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in folder.rglob("*.parquet") if p.name != "_schema.parquet")


def require_dlt() -> None:
    try:
        import dlt  # noqa: F401
    except ImportError:
        sys.exit("dlt is missing: `uv sync --frozen --group bench` adds it (see the benchmark's docstring)")


def race(
    script: Path,
    source: str,
    label: str,
    title: str,
    rows: int,
    page_size: int,
    workdir: Path,
    only: list[str] | None = None,
    env: dict[str, str] | None = None,
    rounds: int = 3,
) -> dict[str, Result]:
    """Every contender against one page server of ``rows`` CDRs, ``rounds`` times in turn, each run checked to
    have written them all; prints every run, then the table of figures beside their targets when all three ran.

    A contender's figure is its fastest run and its highest peak RSS: this machine's speed drifts by a fifth
    within minutes (other tenants), and taking turns with the best of several runs compares the contenders at
    the same speed of the machine rather than at whatever it was when each happened to run."""
    names = only or ["product", "dlt", "plain"]
    runs: dict[str, list[Result]] = {name: [] for name in names}
    with start_server(source, rows, page_size) as server:
        print(f"{label} page server: {server.banner}", flush=True)
        for turn in range(1, rounds + 1):
            for name in names:
                folder = workdir / f"{name}-{turn}"
                result = run_contender(script, name, server.url, folder, env)
                assert result.rows == rows, f"{name} wrote {result.rows:,} rows, not {rows:,}"
                if name == "product":
                    assert parquet_rows(folder / "lake" / source) == rows
                elif name == "plain":
                    assert parquet_rows(folder) == rows
                print(
                    f"  round {turn} {name:8}{result.seconds:>8.2f} s{result.rate:>10,.0f} rows/s"
                    f"{result.rss_mb:>7,.0f} MB",
                    flush=True,
                )
                runs[name].append(result)
                if name == "dlt":  # its DuckDB file and load packages are several times the data
                    shutil.rmtree(folder, ignore_errors=True)
    results = {
        name: Result(name, rows, min(r.seconds for r in done), max(r.rss_mb for r in done))
        for name, done in runs.items()
    }
    if len(results) == 3:
        print_table(f"{title} (best of {rounds} runs each)", results["product"], results["dlt"], results["plain"])
    else:
        for result in results.values():
            print(f"{result.name:10}{result.rows:>10,} rows {result.rate:>10,.0f} rows/s {result.rss_mb:>6,.0f} MB")
    return results
