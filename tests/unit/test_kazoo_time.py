from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise

import pytest

from cdr.sources.kazoo.client import (
    GREGORIAN_UNIX_OFFSET,
    MAX_WINDOW,
    from_gregorian,
    split_windows,
    to_gregorian,
    window_params,
)


def test_gregorian_epoch_offsets():
    # 1970-01-01 is day 719528 of the proleptic Gregorian calendar counted from year 0 (Erlang's calendar).
    assert GREGORIAN_UNIX_OFFSET == 719_528 * 86_400
    assert to_gregorian(datetime(1970, 1, 1, tzinfo=UTC)) == 62_167_219_200
    assert to_gregorian(datetime(2026, 11, 20, tzinfo=UTC)) == 1_795_132_800 + 62_167_219_200


def test_gregorian_round_trip_and_time_zones():
    moment = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert from_gregorian(to_gregorian(moment)) == moment
    bucharest = moment.astimezone(timezone(timedelta(hours=3)))
    assert to_gregorian(bucharest) == to_gregorian(moment)


def test_gregorian_rounds_fractions_up_and_refuses_naive():
    assert to_gregorian(datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC)) == to_gregorian(
        datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    )
    with pytest.raises(ValueError, match="naive"):
        to_gregorian(datetime(2026, 1, 1))


def test_window_params_are_inclusive_on_both_ends_so_intervals_tile():
    a, b, c = (datetime(2026, 11, 20, h, tzinfo=UTC) for h in (0, 1, 2))
    first, second = window_params(a, b), window_params(b, c)
    assert first["created_to"] == second["created_from"] - 1
    assert first["created_to"] - first["created_from"] == 3599


@pytest.mark.parametrize("days,expected", [(0, 0), (1, 1), (31, 1), (32, 2), (62, 2), (70, 3), (400, 13)])
def test_split_windows_cover_the_interval_without_gap_or_overlap(days, expected):
    start = datetime(2026, 1, 1, 6, tzinfo=UTC)
    end = start + timedelta(days=days)
    windows = split_windows(start, end)
    assert len(windows) == expected
    if windows:
        assert windows[0][0] == start and windows[-1][1] == end
    for (_, e1), (s2, _) in pairwise(windows):
        assert e1 == s2
    assert all(e - s <= MAX_WINDOW and e > s for s, e in windows)


def test_split_windows_refuses_a_backwards_interval():
    start = datetime(2026, 1, 2, tzinfo=UTC)
    with pytest.raises(ValueError):
        split_windows(start, start - timedelta(hours=1))
