"""The report's charts as inline SVG, drawn with matplotlib's object API (no pyplot: no global figure state, no
display backend) from the same rows the report writes as CSV.

Sized for a phone: 4 inches wide at 10-11 pt, so an SVG scaled to a phone's width (about 340 px) shows its text
at 12-13 px; the page caps a chart's width on a desktop. Text stays text in the SVG (smaller, crisp).
"""

from __future__ import annotations

import io
import re
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from matplotlib import rc_context
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from cdr.registry import SOURCES
from cdr.reporting.figures import TOTAL, Table
from cdr.reporting.figures import source_label as _label
from cdr.sitetime import site_timezone_name

if TYPE_CHECKING:  # RcKeyType came with matplotlib 3.11 and pyproject.toml allows 3.9: only mypy imports it
    from matplotlib.typing import RcKeyType

SOURCE_COLOURS = {s.name: s.colour for s in SOURCES.values()}
OTHER_COLOURS = ["#937860", "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd"]
STATUS_COLOURS = {
    "answered": "#2e7d32",
    "voicemail": "#7b1fa2",
    "no_answer": "#9e9e9e",
    "busy": "#f9a825",
    "cancelled": "#cfd8dc",
    "abandoned": "#c62828",
    "failed": "#4e342e",
    "other": "#78909c",
}
DAY_BEFORE_COLOUR, WEEK_BEFORE_COLOUR = "#37474f", "#90a4ae"
WIDTH = 4.0

STYLE: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
    "font.size": 10.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#b0bec5",
    "axes.labelcolor": "#37474f",
    "xtick.color": "#546e7a",
    "ytick.color": "#37474f",
    "legend.frameon": False,
    "figure.dpi": 72,
}


def source_colour(source: str, sources: list[str]) -> str:
    if source in SOURCE_COLOURS:
        return SOURCE_COLOURS[source]
    return OTHER_COLOURS[sources.index(source) % len(OTHER_COLOURS)] if source in sources else OTHER_COLOURS[0]


def to_svg(fig: Figure, name: str, title: str) -> str:
    """The figure as an <svg> element for inlining: no XML prolog, scalable (viewBox, no fixed size), ids unique
    to this chart (several SVGs share one page), and labelled for screen readers."""
    buffer = io.StringIO()
    with rc_context({"svg.hashsalt": f"cdr-report-{name}"}):
        fig.savefig(buffer, format="svg", bbox_inches="tight", pad_inches=0.05, metadata={"Date": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    head_end = svg.index(">")
    head = re.sub(r'\s(width|height)="[^"]*"', "", svg[:head_end])
    title_text = title.replace("&", "&amp;").replace("<", "&lt;")
    return f'{head} role="img" aria-label="{title_text}" class="chart">' + svg[head_end + 1 :]


def calls_chart(table: Table, sources: list[str]) -> str | None:
    """Per source, incoming and then outgoing calls offered (pale bar) and answered (solid bar)."""
    directions = [("inbound", "Incoming"), ("outbound", "Outgoing")]
    rows = {(r["source"], r["direction"]): r for r in table.rows}
    shown = [s for s in sources if any(rows.get((s, d), {}).get("offered") for d, _ in directions)]
    if not shown:
        return None
    with rc_context(STYLE):
        fig = Figure(figsize=(WIDTH, 0.9 + 0.5 * len(shown)))
        axes = fig.subplots(2, 1, sharex=False)
        top = max(rows.get((s, d), {}).get("offered") or 0 for s in shown for d, _ in directions) or 1
        for ax, (direction, label) in zip(axes, directions):
            offered = [rows.get((s, direction), {}).get("offered") or 0 for s in shown]
            answered = [rows.get((s, direction), {}).get("answered") or 0 for s in shown]
            colours = [source_colour(s, sources) for s in shown]
            y = list(range(len(shown)))
            ax.barh(y, offered, color=colours, alpha=0.28, height=0.72)
            ax.barh(y, answered, color=colours, height=0.72)
            for i, (o, a) in enumerate(zip(offered, answered)):
                ax.text(o + top * 0.02, i, f"{a} of {o}", va="center", fontsize=9.5, color="#37474f")
            ax.set_xlim(0, top * 1.3)
            ax.set_yticks(y, [_label(s) for s in shown])
            ax.invert_yaxis()
            ax.set_title(label, fontsize=10.5, loc="left", color="#37474f", fontweight="bold")
            ax.set_xticks([])
            ax.tick_params(axis="y", length=0)
            for side in ("bottom", "left"):
                ax.spines[side].set_visible(False)
        fig.text(0.99, 0.0, "answered of offered", ha="right", va="bottom", fontsize=9, color="#78909c")
        fig.subplots_adjust(hspace=0.45)
        return to_svg(fig, "calls", "Calls offered and answered by source and direction")


def hourly_chart(table: Table, sources: list[str], peak_hours: list[int]) -> str | None:
    """Incoming calls per local hour (the call centre's clock), stacked by source, with the day before and the week
    before as lines."""
    total = {r["hour"]: r for r in table.rows if r["source"] == TOTAL}
    if not any(
        r["incoming_calls"] or r["incoming_calls_day_before"] or r["incoming_calls_week_before"] for r in total.values()
    ):
        return None
    hours = list(range(24))
    with rc_context(STYLE):
        fig = Figure(figsize=(WIDTH, 2.7))
        ax = fig.subplots()
        bottom = [0] * 24
        for source in sources:
            counts = {r["hour"]: r["incoming_calls"] for r in table.rows if r["source"] == source}
            values = [counts.get(h, 0) for h in hours]
            if any(values):
                ax.bar(
                    hours, values, bottom=bottom, color=source_colour(source, sources), width=0.8, label=_label(source)
                )
                bottom = [b + v for b, v in zip(bottom, values)]
        # A comparison day without data (None) has no line, rather than a line at zero.
        for period, colour, style, label in (
            ("day_before", DAY_BEFORE_COLOUR, "-", "day before"),
            ("week_before", WEEK_BEFORE_COLOUR, "--", "week before"),
        ):
            before = [total[h][f"incoming_calls_{period}"] for h in hours]
            if all(v is not None for v in before):
                ax.plot(hours, before, color=colour, linewidth=1.4, linestyle=style, label=label)
        for rank, hour in enumerate(peak_hours, 1):
            ax.annotate(
                f"#{rank}",
                (hour, bottom[hour]),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
                fontsize=8,
                color="#b71c1c",
            )
        ax.set_xticks(range(0, 24, 3), [f"{h:02d}" for h in range(0, 24, 3)])
        ax.set_xlim(-0.6, 23.6)
        ax.set_xlabel(f"hour ({site_timezone_name()})", fontsize=9)
        locator = ax.yaxis.get_major_locator()
        assert isinstance(locator, MaxNLocator)  # a linear axis keeps its AutoLocator, whose set_params takes integer=
        locator.set_params(integer=True)
        ax.margins(y=0.15)
        ax.legend(
            fontsize=8.5,
            ncol=3,
            loc="lower left",
            bbox_to_anchor=(0, 1.0),
            handlelength=1.2,
            columnspacing=0.8,
            borderaxespad=0.2,
        )
        return to_svg(fig, "hourly", "Incoming calls per hour")


def country_chart(table: Table, limit: int = 8) -> str | None:
    """Answer ratio of outgoing calls for the countries called most (all sources)."""
    rows = [r for r in table.rows if r["source"] == TOTAL and r["calls"]][:limit]
    if not rows:
        return None
    with rc_context(STYLE):
        fig = Figure(figsize=(WIDTH, 0.5 + 0.34 * len(rows)))
        ax = fig.subplots()
        y = range(len(rows))
        ratios = [r["answer_ratio_pct"] or 0 for r in rows]
        ax.barh(y, [100] * len(rows), color="#eceff1", height=0.7)
        ax.barh(y, ratios, color="#1565c0", height=0.7)
        for i, r in enumerate(rows):
            ax.text(
                102, i, f"{r['answer_ratio_pct']:.0f} % of {r['calls']}", va="center", fontsize=9.5, color="#37474f"
            )
        ax.set_yticks(list(y), [r["country_name"] for r in rows])
        ax.invert_yaxis()
        ax.set_xlim(0, 150)
        ax.set_xticks([0, 50, 100], ["0 %", "50 %", "100 %"])
        ax.spines["left"].set_visible(False)
        ax.tick_params(axis="y", length=0)
        return to_svg(fig, "countries", "Answer ratio of outgoing calls by country")


def hangup_chart(table: Table, sources: list[str]) -> str | None:
    """Each source's legs split by how they ended (the warehouse's status), as shares of 100 %."""
    legs: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in table.rows:
        if r["source"] != TOTAL and r["status"] != TOTAL:
            legs[r["source"]][r["status"]] += r["legs"]
    shown = [s for s in sources if sum(legs[s].values())]
    if not shown:
        return None
    statuses = [s for s in STATUS_COLOURS if any(legs[src][s] for src in shown)]
    statuses += sorted({st for src in shown for st in legs[src]} - set(statuses))
    with rc_context(STYLE):
        fig = Figure(figsize=(WIDTH, 1.1 + 0.4 * len(shown)))
        ax = fig.subplots()
        left = [0.0] * len(shown)
        for status in statuses:
            shares = [100.0 * legs[s][status] / sum(legs[s].values()) for s in shown]
            ax.barh(
                range(len(shown)),
                shares,
                left=left,
                height=0.65,
                label=status.replace("_", " "),
                color=STATUS_COLOURS.get(status, "#b0bec5"),
            )
            left = [a + b for a, b in zip(left, shares)]
        ax.set_yticks(list(range(len(shown))), [_label(s) for s in shown])
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xticks([0, 25, 50, 75, 100], ["0", "25", "50", "75", "100 %"])
        ax.tick_params(axis="y", length=0)
        ax.spines["left"].set_visible(False)
        ax.legend(
            fontsize=8.5,
            ncol=3,
            loc="upper left",
            bbox_to_anchor=(0, -0.1 - 0.45 / len(shown)),
            handlelength=1.0,
            columnspacing=0.8,
        )
        return to_svg(fig, "hangups", "How calls ended, by source")


def health_chart(table: Table, gaps: Table, sources: list[str]) -> str | None:
    """CDRs per source and local hour as a heat map; gap hours (no CDRs where the source usually has some) in red."""
    counts = {(r["source"], r["hour"]): r["cdrs"] for r in table.rows}
    if not sources:
        return None
    gap_cells = {(g["source"], g["hour"]) for g in gaps.rows}
    with rc_context(STYLE):
        fig = Figure(figsize=(WIDTH, 0.8 + 0.36 * len(sources)))
        ax = fig.subplots()
        grid = [[counts.get((s, h), 0) for h in range(24)] for s in sources]
        peak = max((v for row in grid for v in row), default=0) or 1
        masked = [[v if v else float("nan") for v in row] for row in grid]
        ax.imshow(masked, cmap="Blues", vmin=-peak * 0.15, vmax=peak, aspect="auto", interpolation="nearest")
        for i, source in enumerate(sources):
            for h in range(24):
                if (source, h) in gap_cells:
                    ax.add_patch(
                        Rectangle(
                            (h - 0.5, i - 0.5),
                            1,
                            1,
                            facecolor="#ffcdd2",
                            edgecolor="#c62828",
                            hatch="////",
                            linewidth=1,
                        )
                    )
        ax.set_yticks(list(range(len(sources))), [_label(s) for s in sources])
        ax.set_xticks(range(0, 24, 3), [f"{h:02d}" for h in range(0, 24, 3)])
        ax.set_xticks([h - 0.5 for h in range(25)], minor=True)
        ax.set_yticks([i - 0.5 for i in range(len(sources) + 1)], minor=True)
        ax.grid(which="minor", color="white", linewidth=1.2)
        ax.tick_params(which="both", length=0)
        for side in ("left", "bottom"):
            ax.spines[side].set_visible(False)
        ax.set_xlabel(f"hour ({site_timezone_name()}) · darker: more CDRs · red: gap", fontsize=9)
        return to_svg(fig, "health", "CDRs per source and hour")
