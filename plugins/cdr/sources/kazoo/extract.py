"""Pull one data interval of KAZOO CDRs into the lake, page by page."""

from __future__ import annotations

from datetime import datetime

from cdr.lake.own_numbers import write_own_numbers
from cdr.registry import source
from cdr.sources.kazoo.client import KazooClient
from cdr.sources.kazoo.records import SCHEMA, to_lake_table
from cdr.sources.pull import pull_into_lake

SOURCE = "kazoo"


def pull_interval(
    client: KazooClient,
    start: datetime,
    end: datetime,
    *,
    default_region: str | None = None,
    own_numbers: list[str] | tuple[str, ...] = (),
) -> dict:
    """Write every CDR created in [start, end) to the lake, replacing what an earlier run of it wrote; and the
    account's own numbers (its API's list and the Connection's ``own_numbers``), which tell the model who is ours."""

    def keep_own_numbers() -> None:
        listed = client.phone_numbers() or []
        write_own_numbers(
            SOURCE,
            [
                *({**item, "origin": "api"} for item in listed),
                *({"number": number, "origin": "connection"} for number in own_numbers),
            ],
        )

    return pull_into_lake(
        source=SOURCE,
        label="KAZOO",
        schema=SCHEMA,
        start=start,
        end=end,
        pages=client.cdr_pages(start, end),
        to_table=to_lake_table,
        lineage={"_default_region": default_region or source(SOURCE).default_region},
        prepare=keep_own_numbers,
    )
