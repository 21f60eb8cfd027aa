"""The rules of reconciliation that need no server: settling, dates, type names, and what a summary names."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta, timezone

import pytest

from cdr.sources.voicenter.calllog import format_date, parse_date
from cdr.sources.voicenter.reconcile import LISTED_IDS, SETTLE, call_time, listed, settled, to_row

END = datetime(2026, 11, 20, 11, tzinfo=UTC)


def test_a_run_waits_for_the_settle_delay_after_its_interval():
    assert timedelta(minutes=5) <= SETTLE
    assert not settled(END, now=END + SETTLE - timedelta(seconds=1))
    assert settled(END, now=END + SETTLE)


def test_dates_go_out_at_gmt_0_and_come_back_as_utc_instants():
    israel = timezone(timedelta(hours=2))
    assert format_date(datetime(2026, 11, 20, 10, 30, tzinfo=israel)) == "2026-11-20T08:30:00"
    with pytest.raises(ValueError, match="naive"):
        format_date(datetime(2026, 11, 20))
    assert parse_date("2026-11-20T08:30") == datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
    assert parse_date("not a date") is None and parse_date(None) is None


def test_date_epoch_stands_in_only_when_date_is_unreadable():
    epoch = calendar.timegm((2026, 11, 20, 8, 30, 0))
    assert call_time({"Date": "2026-11-20T08:30:00Z", "DateEpoch": epoch + 7200}).timestamp() == epoch
    assert call_time({"date": "garbled", "dateepoch": epoch}) == datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
    assert call_time({}) is None
    assert call_time({"DateEpoch": 0}) is None  # no call


def test_a_record_with_only_a_cdr_type_id_gets_the_webhook_type_name():
    assert to_row({"CallID": "a", "CdrType": 8}, {})[0]["type"] == "Queue"
    assert to_row({"CallID": "a", "Type": "Extension Outgoing", "CdrType": 8}, {})[0]["type"] == "Extension Outgoing"
    assert to_row({"CallID": "a", "CdrType": 99}, {})[0]["type"] is None


def test_long_id_lists_are_cut_in_the_log_and_say_how_many_more():
    ids = [f"id{i:05d}" for i in range(LISTED_IDS + 7)]
    text = listed(ids)
    assert text.endswith("and 7 more") and text.count(",") == LISTED_IDS - 1
