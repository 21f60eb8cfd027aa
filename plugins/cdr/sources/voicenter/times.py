"""Voicenter's ``time``: the account's wall-clock time written as epoch seconds, and the true instant it names.

The vendor's field table says ``time`` is "Epoch time (Israel time zone)", and its examples agree that it is
Israel's wall-clock time written as if it were UTC: the webhook example's ``time`` 1595333610 reads 12:13:30
as UTC, 3 s after its ``ivruniqueid``'s prefix 2020-07-21 12:13:27 (local), and the Call Log example's ``CallID``
prefix 2024-06-10 12:04:55 (local) belongs to the true-UTC ``Date`` 09:04:58Z, three hours earlier (Israel in
summer). So the instant is the wall-clock time read in the account's zone (Connection ``voicenter_default``,
extra ``timezone``, default Asia/Jerusalem). An account known to send true epochs sets extra ``time_basis``
``utc``; the reconciliation measures which basis the data follows (marts.agg_voicenter_time_offset).

Daylight saving, decided here:
  * the autumn hour that repeats (01:00-02:00 in Israel on the last Sunday of October) has two readings; a CDR is
    sent after its call ended, so the later reading wins when the call would have ended by the time the CDR was
    received, else the earlier one. Without a receipt time (a Call Log row has a true UTC ``Date`` and needs no
    rule) the earlier reading wins.
  * a wall-clock time the spring change skips (02:00-03:00 in Israel on the Friday before the last Sunday of
    March) is read with the offset in force before the change, as zoneinfo does: 02:30 is 00:30Z, 03:30 daylight
    time. Voicenter's own clock cannot show such a time; it is handled so that nothing fails.
A ``time`` outside 2000-01-01..2100-01-01 names no call: no instant (staging counts it and dates the leg by its
receipt, ``started_at_estimated``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

BASIS_LOCAL, BASIS_UTC = "local", "utc"
BASES = (BASIS_LOCAL, BASIS_UTC)
EARLIEST, LATEST = 946_684_800, 4_102_444_800  # 2000-01-01, 2100-01-01 (UTC)
# A receiving clock may run a little behind the sender's.
RECEIPT_SLACK = 60.0


def time_basis(extra: dict | None) -> str:
    """The Connection's extra ``time_basis`` (``local`` or ``utc``, any case), default ``local``."""
    value = (extra or {}).get("time_basis")
    if value is None or (isinstance(value, str) and not value.strip()):
        return BASIS_LOCAL
    if not isinstance(value, str) or value.strip().lower() not in BASES:
        raise ValueError(f"voicenter_default: extra.time_basis {value!r} must be one of {', '.join(BASES)}")
    return value.strip().lower()


def _offset(zone: ZoneInfo, wall: datetime) -> timedelta:
    """The zone's offset for a naive wall-clock time (its ``fold`` picks the reading of a repeated hour)."""
    offset = zone.utcoffset(wall)
    assert offset is not None  # tzinfo's signature allows None; a ZoneInfo has an offset for every time
    return offset


@lru_cache(maxsize=8192)
def _readings(zone: ZoneInfo, wall_hour: datetime) -> tuple[timedelta, ...]:
    """The zone's offsets a wall-clock hour can be read with: one, or two in the hour that repeats (earlier reading
    first). Cached by hour: CDRs of one hour share it."""
    offsets: list[timedelta] = []
    for moment in (wall_hour, wall_hour + timedelta(minutes=59, seconds=59)):
        for fold in (0, 1):
            offset = _offset(zone, moment.replace(fold=fold))
            if offset not in offsets:
                offsets.append(offset)
    # a larger offset is the earlier instant (daylight time, before the clocks go back)
    return tuple(sorted(offsets, reverse=True))


def instant(
    value: int | None,
    zone: ZoneInfo,
    basis: str = BASIS_LOCAL,
    *,
    received: datetime | None = None,
    seconds_after_start: int = 0,
) -> datetime | None:
    """The UTC instant of a webhook ``time``. ``received``: when the receiver got the CDR; ``seconds_after_start``:
    the call's known length (ring plus duration), so that its end can be compared with the receipt."""
    if value is None or not EARLIEST <= value <= LATEST:
        return None
    labelled = datetime.fromtimestamp(value, UTC)
    if basis == BASIS_UTC:
        return labelled
    wall = labelled.replace(tzinfo=None)
    offsets = _readings(zone, wall.replace(minute=0, second=0, microsecond=0))
    candidates = []
    for offset in offsets:
        moment = (wall - offset).replace(tzinfo=UTC)
        # only a reading the zone really shows at that instant (both offsets of an hour that changes midway)
        if moment.astimezone(zone).replace(tzinfo=None) == wall:
            candidates.append(moment)
    if not candidates:  # skipped by the spring change: the offset before it
        return (wall - _offset(zone, wall.replace(fold=0))).replace(tzinfo=UTC)
    if len(candidates) == 1 or received is None:
        return candidates[0]
    later = candidates[-1]
    if later + timedelta(seconds=seconds_after_start) <= received + timedelta(seconds=RECEIPT_SLACK):
        return later
    return candidates[0]


def webhook_time(moment: datetime, zone: ZoneInfo, basis: str = BASIS_LOCAL) -> int:
    """A UTC instant written as the webhook writes ``time`` (the inverse of ``instant``)."""
    moment = moment.astimezone(UTC)
    if basis == BASIS_UTC:
        return int(moment.timestamp())
    wall = moment.astimezone(zone).replace(tzinfo=UTC)
    return int(wall.timestamp())
