"""One day's report: every figure from the published warehouse (opened read-only), the CSV behind each table and
chart, and report.html, written together under reports/<YYYY-MM-DD>/ and swapped in whole.

With CDR_REPORT_MASK_NUMBERS the report is made from the analysts' masked copy (warehouse.masking) instead, so that it
shows what that copy shows and nothing more: numbers and ids as their hashes, digits in source texts masked.

A re-run or a back-fill of a day regenerates its directory from scratch: nothing of an earlier run survives,
and a reader sees the old report or the new one, never a mix.
"""

from __future__ import annotations

import csv
import io
import logging
import shutil
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from cdr import access, config, sitetime
from cdr.fsutil import publish_dir
from cdr.reporting import charts, readiness, render
from cdr.reporting.figures import (
    FIGURES,
    PERIODS,
    SQL_DIR,
    TOTAL,
    Measure,
    Table,
    change,
    compared_table,
    day_table,
    prepare,
    source_label,
    sources_with_data,
)
from cdr.settings import settings

log = logging.getLogger(__name__)

HTML_NAME = "report.html"
PEAK_HOURS = 3
# Leftovers of a killed run (dot-named, so nobody mistakes them for a report) older than this are removed.
STALE_TEMP = timedelta(hours=1)


class ReportError(RuntimeError):
    """The report cannot be made as asked (no warehouse, an interval that is not one local day)."""


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    figure: str
    match: dict[str, Any]
    measure: str
    kind: str = "count"
    better: str | None = None


# The cards at the top, each one cell of a figure's table (call-backs: the length of the list).
HEADLINE = (
    Kpi("incoming_calls", "Incoming calls", "calls_by_direction", {"source": TOTAL, "direction": "inbound"}, "offered"),
    Kpi(
        "incoming_answer_ratio_pct",
        "Incoming answered",
        "calls_by_direction",
        {"source": TOTAL, "direction": "inbound"},
        "answer_ratio_pct",
        "pct",
        "up",
    ),
    Kpi(
        "incoming_abandoned",
        "Incoming abandoned",
        "calls_by_direction",
        {"source": TOTAL, "direction": "inbound"},
        "abandoned",
        "count",
        "down",
    ),
    Kpi("callbacks_due", "Call-backs due", "callbacks", {}, "rows", "count", "down"),
    Kpi(
        "service_level_pct",
        "Service level",
        "queues",
        {"source": TOTAL, "queue_id": TOTAL},
        "service_level_pct",
        "pct",
        "up",
    ),
    Kpi(
        "avg_speed_of_answer_seconds",
        "Avg speed of answer",
        "queues",
        {"source": TOTAL, "queue_id": TOTAL},
        "avg_speed_of_answer_seconds",
        "seconds",
        "down",
    ),
    Kpi(
        "outgoing_calls", "Outgoing calls", "calls_by_direction", {"source": TOTAL, "direction": "outbound"}, "offered"
    ),
    Kpi(
        "outgoing_answer_ratio_pct",
        "Outgoing answered",
        "calls_by_direction",
        {"source": TOTAL, "direction": "outbound"},
        "answer_ratio_pct",
        "pct",
        "up",
    ),
)


@dataclass(frozen=True)
class HealthCheck:
    """One more row of the data-health section's checks: per source, how many of the day's records something is
    true of (0 is fine). ``sql`` answers ``source, n`` for ``$day`` (and may use ``$day_end``, ``$sources``);
    keep it in include/reports/<key>.sql and pass ``figures._read_sql(key)``."""

    key: str
    label: str
    meaning: str
    sql: str


# The data-health section's rows after each source's CDRs, newest CDR and gap hours: add a check here to add a row
# (it appears in report.html and in health_checks.csv).
HEALTH_CHECKS: tuple[HealthCheck, ...] = ()


def health_checks_table(con, day: date, sources: list[str], checks=None) -> Table:
    """One row per check and source (every source, zeros included), in the order of ``checks``."""
    from cdr.reporting.figures import day_params, run

    rows = []
    for check in HEALTH_CHECKS if checks is None else checks:
        found = {r["source"]: r["n"] for r in run(con, check.sql, day_params(day, sources)).rows}
        rows += [
            {
                "check": check.key,
                "label": check.label,
                "meaning": check.meaning,
                "source": source,
                "n": found.get(source, 0),
            }
            for source in sources
        ]
    return Table(["check", "label", "meaning", "source", "n"], rows)


@dataclass
class Report:
    day: date
    directory: Path
    files: dict[str, int]
    headline: list[dict[str, Any]]
    alerts: list[str]
    complete: bool

    @property
    def html(self) -> Path:
        return self.directory / HTML_NAME

    def summary(self) -> dict[str, Any]:
        """What the run returns (XCom) and the mail is made of: plain JSON values only."""
        return {
            "day": self.day.isoformat(),
            "directory": str(self.directory),
            "html": str(self.html),
            "files": self.files,
            "headline": self.headline,
            "alerts": self.alerts,
            "complete": self.complete,
        }


def report_day(start: datetime | None, end: datetime | None) -> date:
    """The business day (CDR_SITE_TIMEZONE) a data interval covers; anything but exactly one local day, midnight
    to midnight (23 or 25 hours across a daylight-saving change), is refused."""
    if start is None or end is None:
        raise ReportError(
            "cdr_reports needs a data interval (an asset-triggered run has none): trigger it for a "
            "date, e.g. `airflow dags test cdr_reports 2026-11-21` for 2026-11-20"
        )
    zone = sitetime.site_timezone()
    day = sitetime.local_day_of(start, end, zone)
    if day is None:
        raise ReportError(
            f"cdr_reports reports whole days of {zone.key} (CDR_SITE_TIMEZONE); the run's data interval is "
            f"{start.astimezone(zone)} .. {end.astimezone(zone)}"
        )
    return day


def write_report(start: datetime | None, end: datetime | None, **kwargs) -> dict[str, Any]:
    """The DAG's entry point: the report of the run's data interval; returns its summary."""
    return build_report(report_day(start, end), **kwargs).summary()


def build_report(
    day: date,
    *,
    warehouse: Path | None = None,
    reports_root: Path | None = None,
    now: datetime | None = None,
    health_checks: tuple[HealthCheck, ...] | None = None,
) -> Report:
    from cdr.warehouse import ducklake

    reports_root = reports_root or config.reports_dir()
    masked = mask_numbers_setting()
    warehouse = warehouse if warehouse is not None else report_warehouse()
    if not ducklake.published_exists(warehouse):
        where = warehouse or ducklake.catalog() or config.warehouse_path()
        raise ReportError(f"no warehouse at {where}: run cdr_warehouse first")
    started = time.monotonic()
    # One connection for everything: a build published meanwhile replaces the file (or commits a DuckLake
    # snapshot), not what this one reads.
    with ducklake.open_published(warehouse) as con:
        published = readiness.published_at_of(con, warehouse or config.warehouse_path())
        prepare(con)
        sources = report_sources(con)
        tables = {name: compared_table(con, figure, day, sources) for name, figure in FIGURES.items()}
        checks = HEALTH_CHECKS if health_checks is None else health_checks
        if checks:
            tables["health_checks"] = health_checks_table(con, day, sources, checks)
        # The headline is of all sources: a comparison day has data if any source sent a CDR that day.
        any_data = {
            period: bool(sources_with_data(con, day - timedelta(days=back))) for period, back in PERIODS.items()
        }
        callbacks_before = {
            period: len(day_table(con, FIGURES["callbacks"], day - timedelta(days=back), sources))
            if any_data[period]
            else None
            for period, back in PERIODS.items()
        }
    day_end = sitetime.day_window(day)[1]
    complete = published >= day_end + readiness.SETTLE
    peaks = mark_peak_hours(tables["incoming_by_hour"])
    tables["health"] = health_table(tables["health"], tables["gaps"], day_end)
    tables["headline"] = headline_table(tables, callbacks_before, any_data)
    alerts = health_alerts(tables["health"], day) + clock_alerts(tables["unmapped"])
    if not complete:
        alerts.insert(
            0,
            f"The warehouse was published {_when(published)}, less than {_hours(readiness.SETTLE)} "
            f"after this day ended: late calls may be missing. Re-run this day to complete it.",
        )

    chart_svgs = {
        "calls": charts.calls_chart(tables["calls_by_direction"], sources),
        "hourly": charts.hourly_chart(tables["incoming_by_hour"], sources, peaks),
        "countries": charts.country_chart(tables["answer_ratio_by_country"]),
        "hangups": charts.hangup_chart(tables["hangup_causes"], sources),
        "health": charts.health_chart(tables["cdrs_by_hour"], tables["gaps"], sources),
    }
    html = render.report_html(
        day=day,
        sources=sources,
        tables=tables,
        charts=chart_svgs,
        peaks=peaks,
        alerts=alerts,
        kpis=kpi_definitions(),
        published=published,
        complete=complete,
        masked=masked,
        generated=(now or datetime.now(UTC)),
        files=sorted(f"{name}.csv" for name in tables),
    )
    directory = reports_root / day.isoformat()
    csvs = {f"{name}.csv": table for name, table in tables.items()}
    rows = {name: len(table) for name, table in csvs.items()}
    # A masked report holds no whole number: it is for the masked copy's readers too (CDR_MASKED_GROUP).
    group = access.masked_group() if masked else access.file_group()
    access.ensure_dir(reports_root, group)
    if masked:
        access.reach(reports_root)
    write_directory(
        directory,
        {name: to_csv(table) for name, table in csvs.items()} | {HTML_NAME: html.encode()},
        rows=rows,
        group=group,
    )
    log.info(
        "report for %s written to %s in %.1fs (warehouse published %s%s)",
        day,
        directory,
        time.monotonic() - started,
        _when(published),
        "" if complete else "; INCOMPLETE",
    )
    for alert in alerts:
        log.warning("report %s: %s", day, alert)
    return Report(day, directory, rows, tables["headline"].rows, alerts, complete)


def mask_numbers_setting() -> bool:
    """``CDR_REPORT_MASK_NUMBERS`` (1, true, yes): the report is made from the masked copy, for people who should
    not see callers' numbers."""

    return settings().report_mask_numbers


def report_warehouse() -> Path | None:
    """The warehouse the report reads: the masked copy when CDR_REPORT_MASK_NUMBERS is set, else the published
    target (None: warehouse.duckdb, or the DuckLake when it is the target)."""
    from cdr.warehouse.masking import masked_path

    return masked_path() if mask_numbers_setting() else None


def report_sources(con) -> list[str]:
    """The contract's sources in their usual order, then any other source the warehouse holds."""
    from cdr.registry import names

    known = names()
    seen = [r[0] for r in con.execute("select distinct source from marts.fct_cdr order by 1").fetchall()]
    return known + [s for s in seen if s not in known]


def mark_peak_hours(table: Table) -> list[int]:
    """Adds ``peak_rank`` (1 = busiest) to the all-sources rows of the peak hours; returns those hours."""
    totals = [r for r in table.rows if r["source"] == TOTAL and r["incoming_calls"] > 0]
    busiest = sorted(totals, key=lambda r: (-r["incoming_calls"], r["hour"]))[:PEAK_HOURS]
    ranks = {r["hour"]: rank for rank, r in enumerate(busiest, 1)}
    for row in table.rows:
        row["peak_rank"] = ranks.get(row["hour"]) if row["source"] == TOTAL else None
    table.columns.append("peak_rank")
    return [r["hour"] for r in busiest]


def health_table(health: Table, gaps: Table, day_end: datetime) -> Table:
    """Per source: the query's counts and newest CDR, its gap hours, and one state a manager can read."""
    for row in health.rows:
        hours = [g["hour"] for g in gaps.rows if g["source"] == row["source"]]
        newest = row["newest_cdr_at_utc"]
        row["gap_hours"] = " ".join(f"{h:02d}" for h in hours)
        row["hours_since_newest_at_day_end"] = (
            None if newest is None else round((day_end.replace(tzinfo=None) - newest).total_seconds() / 3600, 1)
        )
        if newest is None:
            row["state"] = "never"
        elif row["cdrs"] == 0:
            row["state"] = "silent" if row["cdrs_week_before"] > 0 else "quiet"
        else:
            row["state"] = "gaps" if hours else "ok"
    order = [
        "source",
        "state",
        "cdrs",
        "active_hours",
        "gap_hours",
        "first_cdr_at_utc",
        "newest_cdr_at_utc",
        "hours_since_newest_at_day_end",
    ]
    return Table(order + [c for c in health.columns if c not in order], health.rows)


def health_alerts(health: Table, day: date) -> list[str]:
    alerts = []
    for row in health.rows:
        name = source_label(row["source"])
        if row["state"] == "silent":
            alerts.append(
                f"{name} sent no CDRs on {day:%a %d %b} (it sent {row['cdrs_week_before']} a week "
                f"before); newest CDR {_when(row['newest_cdr_at_utc'])}."
            )
        elif row["state"] == "gaps":
            alerts.append(f"{name} sent no CDRs in hour(s) {row['gap_hours']}, when it usually does.")
    return alerts


def clock_alerts(unmapped: Table) -> list[str]:
    """A source whose second witness contradicts its clock setting (marts.dq_unmapped, `affects` started_at): its
    legs are dated wrong until the setting is fixed."""
    return [
        f"{source_label(row['source'])}: {row['legs']} legs' times contradict the clock setting ({row['raw_value']}, "
        f"{row['mapped_to']}): check the Connection's timezone and time_basis."
        for row in unmapped.rows
        if row["affects"] == "started_at"
    ]


def headline_table(
    tables: dict[str, Table], callbacks_before: dict[str, int | None], any_data: dict[str, bool]
) -> Table:
    rows = []
    for kpi in HEADLINE:
        if kpi.figure == "callbacks":
            values = {"": len(tables["callbacks"]), **{f"_{p}": n for p, n in callbacks_before.items()}}
        else:
            source = tables[kpi.figure].one(**kpi.match) or {}
            values = {suffix: source.get(f"{kpi.measure}{suffix}") for suffix in ("", *(f"_{p}" for p in PERIODS))}
        known = dict(any_data)
        row: dict[str, Any] = {
            "kpi": kpi.key,
            "label": kpi.label,
            "kind": kpi.kind,
            "better": kpi.better,
            "value": values[""],
        }
        for period in PERIODS:
            row[f"value_{period}"] = values[f"_{period}"]
            row[f"value_vs_{period}"] = change(Measure(kpi.measure, kpi.kind), values[""], values[f"_{period}"])
            row[f"has_data_{period}"] = known[period]
        rows.append(row)
    columns = [
        "kpi",
        "label",
        "kind",
        "better",
        "value",
        *(f"value_{p}" for p in PERIODS),
        *(f"value_vs_{p}" for p in PERIODS),
        *(f"has_data_{p}" for p in PERIODS),
    ]
    return Table(columns, rows)


def kpi_definitions() -> list[dict[str, str]]:
    return yaml.safe_load((SQL_DIR / "kpis.yml").read_text())


def to_csv(table: Table) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([_csv_value(row.get(c)) for c in table.columns])
    return buffer.getvalue().encode()


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value)


def write_directory(directory: Path, files: dict[str, bytes], rows: dict[str, int], group: int | None = None) -> None:
    """Write every file into a hidden sibling directory, then swap it in for ``directory`` (fsutil.publish_dir).
    Files 0640, the directory 0750, in ``group`` (None: CDR_FILE_GROUP; cdr.access)."""
    access.ensure_dir(directory.parent)
    _remove_stale_temps(directory)
    temp = directory.with_name(f".{directory.name}.{uuid.uuid4().hex}.tmp")
    temp.mkdir(mode=0o700)
    try:
        access.set_access(temp, access.DIR_MODE, group)
        for name, data in files.items():
            with open(access.create_file(temp / name, access.FILE_MODE, group), "wb") as fh:
                fh.write(data)
            log.info(
                "wrote %s: %s, %d bytes",
                directory / name,
                f"{rows[name]} rows" if name in rows else "the report page",
                len(data),
            )
        publish_dir(temp, directory)
    finally:
        if temp.exists():
            shutil.rmtree(temp)


def _remove_stale_temps(directory: Path) -> None:
    cutoff = time.time() - STALE_TEMP.total_seconds()
    for leftover in directory.parent.glob(f".{directory.name}.*"):
        if leftover.is_dir() and leftover.stat().st_mtime < cutoff:
            log.info("removing %s, left by an earlier run that did not finish", leftover)
            shutil.rmtree(leftover)


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "never"
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    zone = sitetime.site_timezone()
    return f"{moment.replace(tzinfo=UTC).astimezone(zone):%Y-%m-%d %H:%M} {zone.key}"


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:g} hour" + ("" if hours == 1 else "s")
