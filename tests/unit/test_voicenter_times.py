"""Voicenter's `time`: Israel's wall-clock time written as epoch seconds (the vendor's examples), on both 2026
daylight-saving days. Expected instants are written out by hand from Israel's rules (clocks forward at 02:00 on
Friday 27 March 2026, back from 02:00 to 01:00 on Sunday 25 October 2026), not computed with zoneinfo."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cdr.sources.voicenter.times import instant, time_basis, webhook_time

ISRAEL = ZoneInfo("Asia/Jerusalem")


def wall(year: int, month: int, day: int, hour: int, minute: int, second: int) -> int:
    """A wall-clock time written as epoch seconds, as the webhook writes `time`."""
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)


def test_the_vendors_examples():
    # webhook: `time` 1595333610 (12:13:30 read as UTC) follows its ivruniqueid 20200721121327...: Israel summer
    assert instant(1595333610, ISRAEL) == utc(2020, 7, 21, 9, 13, 30)
    # Call Log: CallID 20240610120455... belongs to Date 2024-06-10T09:04:58Z
    assert webhook_time(utc(2024, 6, 10, 9, 4, 58), ISRAEL) == wall(2024, 6, 10, 12, 4, 58)
    # in winter Israel is UTC+2
    assert instant(wall(2026, 11, 20, 8, 9, 6), ISRAEL) == utc(2026, 11, 20, 6, 9, 6)


def test_spring_forward_2026_03_27():
    assert instant(wall(2026, 3, 27, 1, 59, 59), ISRAEL) == utc(2026, 3, 26, 23, 59, 59)  # still UTC+2
    assert instant(wall(2026, 3, 27, 3, 0, 0), ISRAEL) == utc(2026, 3, 27, 0, 0, 0)  # now UTC+3
    # 02:30 never shows on an Israeli clock: read with the offset before the change (02:30 +02:00)
    assert instant(wall(2026, 3, 27, 2, 30, 0), ISRAEL) == utc(2026, 3, 27, 0, 30, 0)


def test_fall_back_2026_10_25_the_repeated_hour():
    assert instant(wall(2026, 10, 25, 0, 59, 59), ISRAEL) == utc(2026, 10, 24, 21, 59, 59)  # UTC+3
    assert instant(wall(2026, 10, 25, 2, 0, 0), ISRAEL) == utc(2026, 10, 25, 0, 0, 0)  # UTC+2
    first, second = utc(2026, 10, 24, 22, 30), utc(2026, 10, 24, 23, 30)  # 01:30 daylight, then 01:30 standard
    at_0130 = wall(2026, 10, 25, 1, 30, 0)
    # no receipt (a Call Log row needs none): the earlier reading
    assert instant(at_0130, ISRAEL) == first
    # received seconds after a 60 s call during the first 01:30: only the earlier reading had ended by then
    assert instant(at_0130, ISRAEL, received=first + timedelta(seconds=65), seconds_after_start=60) == first
    # received after the second 01:30's call ended: the later reading
    assert instant(at_0130, ISRAEL, received=second + timedelta(seconds=65), seconds_after_start=60) == second


def test_each_instant_of_the_fall_back_night_comes_back_with_its_receipt():
    moment = utc(2026, 10, 24, 21, 0)
    while moment < utc(2026, 10, 25, 1, 0):
        sent = webhook_time(moment, ISRAEL)
        assert instant(sent, ISRAEL, received=moment + timedelta(seconds=90), seconds_after_start=30) == moment
        moment += timedelta(minutes=7)


def test_an_account_that_sends_true_epochs():
    assert instant(1718010298, ISRAEL, "utc") == utc(2024, 6, 10, 9, 4, 58)
    assert webhook_time(utc(2024, 6, 10, 9, 4, 58), ISRAEL, "utc") == 1718010298
    assert time_basis({}) == "local" and time_basis({"time_basis": " UTC "}) == "utc"
    with pytest.raises(ValueError, match="time_basis"):
        time_basis({"time_basis": "israel"})


@pytest.mark.parametrize("value", [None, 0, -5, 12, 946_684_799, 4_102_444_801])
def test_a_time_no_call_can_have_has_no_instant(value):
    assert instant(value, ISRAEL) is None
