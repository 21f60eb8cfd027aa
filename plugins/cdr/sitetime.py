"""The call centre's clock: ``CDR_SITE_TIMEZONE`` (IANA, default UTC), the zone of the marts' local dates and hours
and of the daily report's business day (docs/contract.md). A local day runs from one local midnight to the next,
23 or 25 hours across a daylight-saving change. dbt reads the same variable (dbt_project.yml, var site_timezone;
a source's own call centre elsewhere: ``CDR_SITE_TIMEZONE_<SOURCE>``, macros/local_time.sql).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cdr.settings import settings

ENV = "CDR_SITE_TIMEZONE"
DEFAULT = "UTC"


def site_timezone_name() -> str:
    """The site's IANA zone name, checked: an unknown name is an error here rather than a report in UTC."""
    name = settings().site_timezone.strip() or DEFAULT
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{ENV}={name!r} is not an IANA time zone (e.g. Europe/Bucharest, Asia/Jerusalem)") from None
    return name


def site_timezone() -> ZoneInfo:
    return ZoneInfo(site_timezone_name())


def day_window(day: date, zone: ZoneInfo | None = None) -> tuple[datetime, datetime]:
    """The UTC instants a local day starts and ends: local midnight to the next local midnight."""
    zone = zone or site_timezone()
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def local_day_of(start: datetime, end: datetime, zone: ZoneInfo | None = None) -> date | None:
    """The local day [start, end) is, or None when it is not exactly one local day."""
    zone = zone or site_timezone()
    day = start.astimezone(zone).date()
    return day if day_window(day, zone) == (start.astimezone(UTC), end.astimezone(UTC)) else None
