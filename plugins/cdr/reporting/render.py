"""report.html and the mail body from the Jinja2 templates in include/reports/, with the number formats a manager
reads (1,234 · 58.9 % · 2 h 05 m) and each figure's change against the day before and the week before."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from cdr.registry import SOURCES
from cdr.reporting.figures import PERIODS, SQL_DIR, TOTAL, Table, source_label
from cdr.sitetime import site_timezone

DIRECTIONS = {
    "inbound": "Incoming",
    "outbound": "Outgoing",
    "internal": "Internal",
    "unknown": "Unknown",
    TOTAL: "All directions",
}
# Column headers on a phone: short, never hyphenated.
SHORT_SOURCES = {s.name: s.short_label for s in SOURCES.values()}
PERIOD_NAMES = {"day_before": "the day before", "week_before": "the same weekday a week before"}


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(SQL_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        num=num,
        pct=pct,
        dec=dec,
        secs=secs,
        duration=duration,
        clock=clock,
        source=source_label,
        short_source=lambda s: SHORT_SOURCES.get(s, s),
        breakable=breakable,
        direction=lambda d: DIRECTIONS.get(d, d),
    )
    env.tests["active_agent"] = active_agent
    env.tests["dialable"] = dialable
    env.globals.update(
        cmp=cmp, TOTAL=TOTAL, rows_of=rows_of, num=num, pct=pct, secs=secs, site_zone=lambda: site_timezone().key
    )
    return env


def report_html(**context: Any) -> str:
    day: date = context["day"]
    context["compared_with"] = {p: day - timedelta(days=back) for p, back in PERIODS.items()}
    return environment().get_template("report.html.j2").render(**context)


def email_html(**context: Any) -> str:
    return environment().get_template("email.html.j2").render(**context)


def dialable(number: Any) -> bool:
    """A number a phone can dial (a tel: link): digits with an optional +, not a masked copy's hash."""
    return isinstance(number, str) and re.fullmatch(r"\+?[0-9]{3,}", number) is not None


def num(value: Any) -> str:
    return "–" if value is None else f"{value:,}"


def pct(value: Any) -> str:
    return "–" if value is None else f"{value:.1f} %"


def dec(value: Any, places: int = 1) -> str:
    """A percentage or mean whose unit the column header gives."""
    return "–" if value is None else f"{value:.{places}f}"


def secs(value: Any) -> str:
    """A mean in seconds (average speed of answer)."""
    return "–" if value is None else f"{value:.0f} s"


def duration(value: Any) -> str:
    """A total in seconds (talk time), as hours and minutes, or minutes and seconds under an hour."""
    if value is None:
        return "–"
    value = int(value)
    hours, rest = divmod(value, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours} h {minutes:02d} m" if hours else f"{minutes} m {seconds:02d} s"


def clock(value: datetime | None, with_date: bool = False) -> str:
    """A time as the report prints it, on the call centre's clock (CDR_SITE_TIMEZONE): 14:58, or 2026-11-19 14:58
    for another day. A time without a zone (the CSVs' *_utc columns) is UTC."""
    if value is None:
        return "never"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(site_timezone()).replace(tzinfo=None)
    return f"{value:%Y-%m-%d %H:%M}" if with_date else f"{value:%H:%M}"


def cmp(row: dict[str, Any] | None, name: str, kind: str = "count", better: str | None = None) -> Markup:
    """The small print under a figure: its change against the day before · against the week before, green when
    better, red when worse, "no data" where that day has none; the earlier value in the tooltip. ``kind`` is how
    the figure reads: count, pct (points), seconds (a mean) or duration (a total of seconds, as 2 h 05 m)."""
    if row is None:
        return Markup("")
    parts = []
    for period in PERIODS:
        if row.get(f"has_data_{period}") is False:
            parts.append(Markup('<span class="nodata" title="{}: no data">no data</span>').format(PERIOD_NAMES[period]))
            continue
        delta, before = row.get(f"{name}_vs_{period}"), row.get(f"{name}_{period}")
        title = f"{PERIOD_NAMES[period]}: " + _plain(before, kind)
        if delta is None:
            parts.append(Markup('<span title="{}">–</span>').format(title))
            continue
        tone = "" if delta == 0 or better is None else ("good" if (delta > 0) == (better == "up") else "bad")
        tone_attr = Markup(' class="{}"').format(tone) if tone else Markup("")
        parts.append(Markup('<span{} title="{}">{}</span>').format(tone_attr, title, _signed(delta, kind)))
    # One line, never wrapped (a table too wide for a phone scrolls sideways, its first column kept in view).
    return Markup('<span class="cmp delta">{} ·&nbsp;{}</span>').format(parts[0], parts[1])


def _signed(delta: float, kind: str) -> str:
    if delta == 0:
        return "±0"
    sign = "+" if delta > 0 else "−"
    size = abs(delta)
    if kind == "count":
        return f"{sign}{size:,}"
    if kind == "duration":
        return sign + duration(size).replace(" ", "\u00a0")
    return f"{sign}{size:.1f}" + (" s" if kind == "seconds" else "")


def _plain(value: Any, kind: str) -> str:
    if kind == "pct":
        return pct(value)
    if kind == "seconds":
        return secs(value)
    if kind == "duration":
        return duration(value)
    return num(value)


def active_agent(row: dict[str, Any]) -> bool:
    names = ("answered_incoming", "answered_outgoing", "talk_seconds")
    return any(row.get(f"{n}{s}") for n in names for s in ("", *(f"_{p}" for p in PERIODS)))


def breakable(text: Any) -> Markup:
    """A source's code (ORIGINATOR_CANCEL) that may wrap after its underscores in a narrow column."""
    return Markup("_<wbr>").join(escape(part) for part in str(text).split("_"))


def rows_of(table: Table, **match: Any) -> list[dict[str, Any]]:
    return table.where(**match)
