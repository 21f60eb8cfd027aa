"""Whether the published warehouse holds a whole day yet: the report waits for a build made after the day ended.

The pulls of a day's last hour run when the day ends and the warehouse is rebuilt right after; PBX calls still
going on then arrive with the next hourly pull (its look-back). A build published an hour after the day's end
therefore holds the day, bar calls longer than that hour.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cdr import config

log = logging.getLogger(__name__)

SETTLE = timedelta(hours=1)


def published_at(warehouse: Path | None = None) -> datetime | None:
    """When the warehouse was published (its build_info), or None when there is no warehouse yet."""
    from cdr.warehouse import ducklake

    if not ducklake.published_exists(warehouse):
        return None
    with ducklake.open_published(warehouse) as con:
        return published_at_of(con, warehouse or config.warehouse_path())


def published_at_of(con, warehouse: Path) -> datetime:
    """The build_info of the warehouse ``con`` has open (the report reads its figures on the same connection)."""
    import duckdb

    try:
        value = con.execute("select max(published_at) from main.build_info").fetchone()[0]
    except duckdb.CatalogException:
        value = None
    # A warehouse published before build_info existed: its file's time is when it was renamed into place.
    return value or datetime.fromtimestamp(warehouse.stat().st_mtime, UTC)


def holds_day(day_end: datetime, warehouse: Path | None = None) -> bool:
    """True once the warehouse was published at least SETTLE after ``day_end``."""
    published = published_at(warehouse)
    if published is None:
        log.info("no warehouse at %s yet: waiting for cdr_warehouse", warehouse or config.warehouse_path())
        return False
    ready = published >= day_end + SETTLE
    log.info(
        "warehouse published %s; the report needs a build from %s on: %s",
        published.isoformat(),
        (day_end + SETTLE).isoformat(),
        "ready" if ready else "waiting",
    )
    return ready
