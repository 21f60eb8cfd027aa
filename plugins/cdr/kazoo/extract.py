"""Pull one data interval of KAZOO CDRs into the lake, page by page."""

from __future__ import annotations

from datetime import datetime

from cdr.kazoo.client import KazooClient
from cdr.kazoo.records import SCHEMA, to_lake_table
from cdr.pull import check_interval, pull_into_lake

SOURCE = "kazoo"


def pull_interval(client: KazooClient, start: datetime, end: datetime, *, default_region: str = "US") -> dict:
    """Write every CDR created in [start, end) to the lake, replacing what an earlier run of it wrote."""
    check_interval(start, end)
    return pull_into_lake(
        source=SOURCE, label="KAZOO", schema=SCHEMA, start=start, end=end,
        pages=client.cdr_pages(start, end), to_table=to_lake_table, lineage={"_default_region": default_region},
    )
