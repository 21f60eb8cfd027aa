"""Pull one data interval of While1 PBX CDRs into the lake, page by page.

Late calls: the PBX writes a CDR when the call ends but files it under the call's start time, so a call still
going on when its interval was pulled is not there yet. Each run therefore reads ``lookback_hours`` before its
interval as well; a late call turns up in the first run after it ended, and the warehouse counts each CDR id
once (the latest read wins). Calls longer than the look-back are caught by re-running their interval.
"""

from __future__ import annotations

from datetime import datetime

from cdr.lake.own_numbers import write_own_numbers
from cdr.registry import source
from cdr.sources.pbx import DEFAULT_LOOKBACK_HOURS
from cdr.sources.pbx.client import PbxClient, lookback_start
from cdr.sources.pbx.records import SCHEMA, to_lake_table
from cdr.sources.pull import pull_into_lake

SOURCE = "pbx"


def pull_interval(
    client: PbxClient,
    start: datetime,
    end: datetime,
    *,
    lookback_hours: float = DEFAULT_LOOKBACK_HOURS,
    own_numbers: list[str] | tuple[str, ...] = (),
    default_region: str | None = None,
) -> dict:
    """Write the CDRs whose call time is in [start - lookback, end) to the lake as the unit of [start, end), and
    the Connection's ``own_numbers`` (the PBX's DIDs), which tell the model who is ours. Each row carries the
    region of its numbers without a country code (``default_region``, else the registry's)."""
    read_from = lookback_start(start, lookback_hours)
    lineage = {"_timezone": client.tz.key, "_default_region": default_region or source(SOURCE).default_region}
    return pull_into_lake(
        source=SOURCE,
        label="PBX",
        schema=SCHEMA,
        start=start,
        end=end,
        pages=client.cdr_pages(read_from, end),
        to_table=to_lake_table,
        lineage=lineage,
        prepare=lambda: write_own_numbers(SOURCE, [{"number": n, "origin": "connection"} for n in own_numbers]),
    )
