"""The report's small parts: its data interval, when the warehouse holds a day, the mail settings, the changes."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, timedelta

import duckdb
import pendulum
import pytest

from cdr.reporting import readiness
from cdr.reporting.build import ReportError, report_day
from cdr.reporting.delivery import DeliveryError, deliver, parse_recipients
from cdr.reporting.figures import Measure, change
from cdr.reporting.render import cmp


def test_a_run_reports_the_utc_day_of_its_data_interval():
    assert report_day(pendulum.datetime(2026, 11, 20, tz="UTC"), pendulum.datetime(2026, 11, 21, tz="UTC")) == date(
        2026, 11, 20
    )
    # The same instants written in another zone are the same day.
    start = pendulum.datetime(2026, 11, 20, 2, tz="Europe/Bucharest")
    assert report_day(start, start.add(days=1)) == date(2026, 11, 20)


@pytest.mark.parametrize(
    "start,end",
    [
        (None, None),  # an asset-triggered run has no interval
        (datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC)),  # CronTriggerTimetable: empty
        (datetime(2026, 11, 20, 10, tzinfo=UTC), datetime(2026, 11, 20, 11, tzinfo=UTC)),
        (datetime(2026, 11, 20, 1, tzinfo=UTC), datetime(2026, 11, 21, 1, tzinfo=UTC)),
    ],
)
def test_anything_but_one_whole_utc_day_is_refused(start, end):
    with pytest.raises(ReportError, match="cdr_reports"):
        report_day(start, end)


def _warehouse(path, published_at: str | None):
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        if published_at:
            con.execute("create table main.build_info as select ?::timestamptz as published_at", [published_at])
    return path


def test_the_report_waits_for_a_build_made_an_hour_after_the_day(tmp_path):
    day_end = datetime(2026, 11, 21, tzinfo=UTC)
    assert not readiness.holds_day(day_end, tmp_path / "missing.duckdb")
    assert not readiness.holds_day(day_end, _warehouse(tmp_path / "early.duckdb", "2026-11-21 00:40:00+00"))
    assert readiness.holds_day(day_end, _warehouse(tmp_path / "late.duckdb", "2026-11-21 01:05:00+00"))
    # A warehouse from before build_info: its file time stands in.
    assert readiness.holds_day(day_end, _warehouse(tmp_path / "old.duckdb", None))


@pytest.mark.parametrize(
    "raw,expected",
    [
        (None, []),
        ("", []),
        ("  ", []),
        ("[]", []),
        ('["ops@example.com", "lead@example.com"]', ["ops@example.com", "lead@example.com"]),
        ("ops@example.com, lead@example.com;ops@example.com", ["ops@example.com", "lead@example.com"]),
        ("ops@example.com\nlead@example.com", ["ops@example.com", "lead@example.com"]),
    ],
)
def test_recipients_are_a_json_list_or_separated_addresses(raw, expected):
    assert parse_recipients(raw) == expected


@pytest.mark.parametrize(
    "raw", ['["ops@example.com"', '{"to": "ops@example.com"}', "ops@example.com, nobody", "[1, 2]"]
)
def test_wrong_recipients_fail_with_the_variable_named(raw):
    with pytest.raises(DeliveryError, match="cdr_report_recipients"):
        parse_recipients(raw)


SUMMARY = {
    "day": "2026-11-20",
    "html": "/nowhere/report.html",
    "directory": "/nowhere",
    "alerts": [],
    "headline": [{"kpi": "incoming_calls", "value": 3}],
}


def logged(caplog, capsys) -> str:
    # Once Airflow has configured logging, records may go to its (structlog) stdout handler instead.
    return caplog.text + capsys.readouterr().out


def test_without_the_smtp_connection_the_report_is_only_written(monkeypatch, caplog, capsys):
    monkeypatch.delenv("AIRFLOW_CONN_SMTP_DEFAULT", raising=False)
    with caplog.at_level(logging.INFO, logger="cdr.reporting.delivery"):
        assert deliver(SUMMARY) == {"mailed": False, "reason": "no connection smtp_default"}
    text = logged(caplog, capsys)
    assert "not mailed" in text and "/nowhere/report.html" in text


def test_with_the_connection_but_nobody_to_send_to_it_warns(monkeypatch, caplog, capsys):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP_DEFAULT",
        json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": 9,
                "password": "s3cret-pass",
                "extra": {"from_email": "r@example.com"},
            }
        ),
    )
    monkeypatch.delenv("AIRFLOW_VAR_CDR_REPORT_RECIPIENTS", raising=False)
    with caplog.at_level(logging.INFO, logger="cdr.reporting.delivery"):
        assert deliver(SUMMARY)["mailed"] is False
    text = logged(caplog, capsys)
    assert "names nobody" in text and "s3cret-pass" not in text


def test_a_connection_without_a_sender_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", '{"conn_type": "smtp", "host": "127.0.0.1", "port": 9}')
    monkeypatch.setenv("AIRFLOW_VAR_CDR_REPORT_RECIPIENTS", "ops@example.com")
    with pytest.raises(DeliveryError, match="from_email"):
        deliver(SUMMARY)


def test_changes_count_differences_and_points_and_know_what_is_better():
    assert change(Measure("offered"), 12, 9) == 3
    assert change(Measure("ratio", "pct"), 65.5, 60.2) == 5.3
    assert change(Measure("ratio", "pct"), 65.5, None) is None
    row = {
        "abandoned_vs_day_before": 2,
        "abandoned_day_before": 8,
        "abandoned_vs_week_before": -1,
        "abandoned_week_before": 11,
    }
    small = str(cmp(row, "abandoned", "count", "down"))
    assert 'class="bad"' in small and "+2" in small and 'class="good"' in small and "−1" in small
    assert "the day before: 8" in small and "a week before: 11" in small
    unchanged = str(cmp({"x_vs_day_before": 0, "x_vs_week_before": None}, "x"))
    assert ">±0<" in unchanged and ">–<" in unchanged and "class=" not in unchanged.replace('class="cmp delta"', "")
    assert timedelta(hours=1) == readiness.SETTLE


def test_a_comparison_day_without_data_reads_no_data_not_a_change():
    # The day before had no data (a first day): its value and change are unknown, not zero and +116.
    row = {
        "value_vs_day_before": None,
        "value_day_before": None,
        "has_data_day_before": False,
        "value_vs_week_before": 5,
        "value_week_before": 111,
        "has_data_week_before": True,
    }
    small = str(cmp(row, "value", "count", "up"))
    assert 'class="nodata"' in small and ">no data<" in small and "+116" not in small
    assert 'class="good"' in small and ">+5<" in small


def test_no_data_is_decided_per_source_and_for_all_sources_by_any():
    from cdr.reporting.figures import has_data

    with_data = frozenset({"kazoo"})
    assert has_data({"source": "kazoo"}, with_data) and not has_data({"source": "pbx"}, with_data)
    assert has_data({"source": "all"}, with_data) and not has_data({"source": "all"}, frozenset())
    assert not has_data({"caller_number": "+1"}, frozenset())


def test_a_clock_the_second_witness_contradicts_is_an_alert_on_the_first_screen():
    from cdr.reporting.build import clock_alerts
    from cdr.reporting.figures import Table

    columns = ["source", "affects", "field", "raw_value", "mapped_to", "legs"]
    unmapped = Table(
        columns,
        [
            {
                "source": "voicenter",
                "affects": "status",
                "field": "status",
                "raw_value": "X",
                "mapped_to": "other",
                "legs": 2,
            },
            {
                "source": "voicenter",
                "affects": "started_at",
                "field": "time",
                "raw_value": "Call Log offset +02:00",
                "mapped_to": "setting gives +00:00",
                "legs": 48,
            },
        ],
    )
    alerts = clock_alerts(unmapped)
    assert len(alerts) == 1
    assert "Voicenter" in alerts[0] and "48" in alerts[0] and "+02:00" in alerts[0] and "time_basis" in alerts[0]
