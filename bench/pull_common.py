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
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "include" / "simulators"))
sys.path.insert(0, str(BENCH))
from pull_server import PAGE_SIZE, VARIANTS, Variant  # noqa: E402


def start_server(source: str, rows: int, variant: str = "base", page_size: int | None = None, timeout: float = 900.0):
    """The pre-rendered page server (pull_server.py) on a free loopback port, as the simulators are started."""
    from launch import start

    extra = ["--page-size", str(page_size)] if page_size else []
    return start(
        str(BENCH / "pull_server.py"), source, "--rows", str(rows), "--variant", variant, *extra, timeout=timeout
    )


def variant_env(source: str, variant: Variant) -> dict[str, str]:
    """What a contender needs to know of the variant: the page size to ask for, the days to pull."""
    return {"BENCH_PAGE_SIZE": str(variant.page_size or PAGE_SIZE[source]), "BENCH_DAYS": str(variant.days)}


def bench_days() -> int:
    """In a contender: the days the variant spans (from DAY)."""
    return int(os.environ.get("BENCH_DAYS", "1"))


def bench_page_size(default: int) -> int:
    return int(os.environ.get("BENCH_PAGE_SIZE", default))


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
    rows: int,
    variant: Variant,
    workdir: Path,
    only: list[str] | None = None,
    rounds: int = 3,
) -> dict[str, Result]:
    """Every contender against one page server of ``rows`` CDRs, ``rounds`` times in turn, each run checked to
    have written them all; prints every run (run_variants prints the figures beside their targets).

    A contender's figure is its fastest run and its highest peak RSS: this machine's speed drifts by a fifth
    within minutes (other tenants), and taking turns with the best of several runs compares the contenders at
    the same speed of the machine rather than at whatever it was when each happened to run."""
    names = only or ["product", "dlt", "plain"]
    env = variant_env(source, variant)
    runs: dict[str, list[Result]] = {name: [] for name in names}
    with start_server(source, rows, variant.name) as server:
        print(f"{label} page server: {server.banner}", flush=True)
        for turn in range(1, rounds + 1):
            for name in names:
                folder = workdir / f"{variant.name}-{name}-{turn}"
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
                shutil.rmtree(folder, ignore_errors=True)  # dlt's DuckDB file is several times the data
    results = {
        name: Result(name, rows, min(r.seconds for r in done), max(r.rss_mb for r in done))
        for name, done in runs.items()
    }
    return results


def scale_run(script: Path, source: str, rows: int, variant: Variant, workdir: Path) -> Result:
    """The product alone on ``rows`` CDRs of the variant: its peak RSS against that at the smaller count."""
    with start_server(source, rows, variant.name) as server:
        print(f"  {variant.name} page server: {server.banner}", flush=True)
        folder = workdir / f"{variant.name}-product-scale"
        result = run_contender(script, "product", server.url, folder, variant_env(source, variant))
        assert result.rows == rows and parquet_rows(folder / "lake" / source) == rows, result
        shutil.rmtree(folder, ignore_errors=True)
    print(f"  at {rows:,} product{result.seconds:>8.2f} s{result.rate:>10,.0f} rows/s{result.rss_mb:>7,.0f} MB")
    return result


# The targets of issue 30, on every variant: rows/s against dlt and the plain loop, peak RSS against dlt's, and
# peak RSS flat with volume (the lake writer's buffer is bounded in bytes, whatever the rows hold).
TARGETS = {"x_dlt": 4.0, "x_plain": 0.9, "rss_of_dlt": 1 / 3, "rss_growth": 1.10}


def run_variants(script: Path, source: str, label: str, args) -> bool:
    """Every contender on every variant asked for (each against its own page server), then one line per variant
    of figures beside the targets. True when every target held on every variant."""
    names = args.variant or list(VARIANTS)
    lines = []
    with tempfile.TemporaryDirectory(prefix=f"bench-{source}-") as tmp:
        for name in names:
            variant = VARIANTS[name]
            print(f"\n== {label} variant {name}: {variant.what}", flush=True)
            results = race(
                script,
                source,
                label,
                args.rows,
                variant,
                Path(tmp),
                args.only,
                args.rounds,
            )
            big = scale_run(script, source, args.scale_rows, variant, Path(tmp)) if args.scale else None
            lines.append((variant, results, big))
    print(
        f"\n{label}: {args.rows:,} CDRs a variant, best of {args.rounds} runs each; peak RSS at "
        f"{args.scale_rows:,} where measured. Targets: >= {TARGETS['x_dlt']}x dlt's rows/s, >= "
        f"{TARGETS['x_plain']}x the plain loop's, peak RSS <= 1/3 of dlt's and <= {TARGETS['rss_growth']}x "
        "from the smaller count to the larger"
    )
    header = (
        f"{'variant':12}{'page':>6}{'product':>10}{'dlt':>9}{'plain':>9}{'x dlt':>7}{'x plain':>8}"
        f"{'RSS MB':>8}{'dlt MB':>8}{'at big':>8}{'growth':>8}  verdict"
    )
    print(header)
    met_all = True
    for variant, results, big in lines:
        product, dlt, plain = (results.get(name) for name in ("product", "dlt", "plain"))
        checks, cells = [], []
        cells.append(f"{variant.name:12}{variant.page_size or PAGE_SIZE[source]:>6}")
        cells.append(f"{product.rate:>10,.0f}" if product else f"{'-':>10}")
        cells.append(f"{dlt.rate:>9,.0f}" if dlt else f"{'-':>9}")
        cells.append(f"{plain.rate:>9,.0f}" if plain else f"{'-':>9}")
        if product and dlt:
            checks.append(product.rate >= TARGETS["x_dlt"] * dlt.rate)
            cells.append(f"{product.rate / dlt.rate:>6.2f}x")
        else:
            cells.append(f"{'-':>7}")
        if product and plain:
            checks.append(product.rate >= TARGETS["x_plain"] * plain.rate)
            cells.append(f"{product.rate / plain.rate:>7.2f}x")
        else:
            cells.append(f"{'-':>8}")
        cells.append(f"{product.rss_mb:>8,.0f}" if product else f"{'-':>8}")
        cells.append(f"{dlt.rss_mb:>8,.0f}" if dlt else f"{'-':>8}")
        if product and dlt:
            checks.append(product.rss_mb <= TARGETS["rss_of_dlt"] * dlt.rss_mb)
        if product and big:
            growth = big.rss_mb / product.rss_mb
            checks.append(growth <= TARGETS["rss_growth"])
            cells.append(f"{big.rss_mb:>8,.0f}{growth:>7.2f}x")
        else:
            cells.append(f"{'-':>8}{'-':>8}")
        met_all &= all(checks)
        print("".join(cells) + f"  {verdict(all(checks))}")
    return met_all


def variant_arguments(parser, rows: int = 200_000) -> None:
    """The command line both pull benchmarks take."""
    parser.add_argument("--rows", type=int, default=rows)
    parser.add_argument("--variant", choices=list(VARIANTS), action="append", help="only these (default: all)")
    parser.add_argument("--scale", action="store_true", help="also pull --scale-rows with the product; compare RSS")
    parser.add_argument("--scale-rows", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["product", "dlt", "plain"], action="append", help="only these contenders")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each contender, in turn; the best counts")


def plain_table(records: list[dict], schema) -> object:
    """The plain loop's page as Arrow: pyarrow's own conversion, and where a page will not take the types (numbers
    as strings, ``""`` for a missing number) what a plain loop would add: every column as text, the integer ones
    cast where they are digits, else null."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        return pa.Table.from_pylist(records, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    text = pa.schema([(f.name, pa.string()) for f in schema])
    as_text = [{k: (v if v is None or isinstance(v, str) else json.dumps(v)) for k, v in r.items()} for r in records]
    table = pa.Table.from_pylist(as_text, schema=text)
    columns = []
    for f in schema:
        column = table.column(f.name)
        if pa.types.is_integer(f.type):
            digits = pc.match_substring_regex(column, r"^-?[0-9]{1,18}$")
            column = pc.if_else(digits, column, pa.scalar(None, pa.string())).cast(f.type)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)
