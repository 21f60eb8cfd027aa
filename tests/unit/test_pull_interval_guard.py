"""An empty data interval (a DAG on the wrong timetable) fails before a pull touches the source or the lake."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from cdr.sources.kazoo.extract import pull_interval as pull_kazoo
from cdr.sources.pbx.extract import pull_interval as pull_pbx

MOMENT = datetime(2026, 11, 20, 10, tzinfo=UTC)


class Untouchable:
    """A client any request to which fails the test."""

    tz = ZoneInfo("UTC")

    def cdr_pages(self, start, end):  # asking for the pages is lazy; reading one is a request
        raise AssertionError("the pull read a page of an empty interval")
        yield

    def __getattr__(self, name):
        raise AssertionError(f"the pull used the client ({name}) for an empty interval")


@pytest.mark.parametrize("pull", [pull_kazoo, pull_pbx])
def test_an_empty_interval_fails_before_any_request_or_file(pull, data_dir):
    with pytest.raises(ValueError, match="empty data interval"):
        pull(Untouchable(), MOMENT, MOMENT, own_numbers=["+18005550100"])
    assert not data_dir.exists() or not any(data_dir.rglob("*.parquet"))
