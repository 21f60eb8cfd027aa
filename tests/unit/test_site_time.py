"""The call centre's clock (CDR_SITE_TIMEZONE): the report's business day and hours across daylight-saving changes.

The instants are written out by hand from the zone's rules (Europe/Bucharest: EET, UTC+2, and EEST, UTC+3, from
03:00 local on the last Sunday of March to 04:00 local on the last Sunday of October), not computed by the code.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import duckdb
import pendulum
import pytest

from cdr import sitetime
from cdr.airflow.schedules import daily_timetable
from cdr.reporting.build import ReportError, report_day
from cdr.reporting.figures import SQL_DIR, day_params

BUCHAREST_FALL_BACK = (datetime(2026, 10, 24, 21, tzinfo=UTC), datetime(2026, 10, 25, 22, tzinfo=UTC))  # 25 h
BUCHAREST_SPRING_FORWARD = (datetime(2026, 3, 28, 22, tzinfo=UTC), datetime(2026, 3, 29, 21, tzinfo=UTC))  # 23 h


@pytest.fixture
def bucharest(monkeypatch):
    monkeypatch.setenv("CDR_SITE_TIMEZONE", "Europe/Bucharest")


def test_the_default_site_is_utc(monkeypatch):
    monkeypatch.delenv("CDR_SITE_TIMEZONE", raising=False)
    assert sitetime.site_timezone_name() == "UTC"
    monkeypatch.setenv("CDR_SITE_TIMEZONE", "  ")
    assert sitetime.site_timezone_name() == "UTC"


def test_an_unknown_zone_is_refused(monkeypatch):
    monkeypatch.setenv("CDR_SITE_TIMEZONE", "Europe/Atlantis")
    with pytest.raises(ValueError, match="CDR_SITE_TIMEZONE='Europe/Atlantis' is not an IANA time zone"):
        sitetime.site_timezone_name()


@pytest.mark.parametrize(
    "day,window",
    [(date(2026, 10, 25), BUCHAREST_FALL_BACK), (date(2026, 3, 29), BUCHAREST_SPRING_FORWARD)],
)
def test_a_local_day_across_a_change_has_25_or_23_hours(bucharest, day, window):
    assert sitetime.day_window(day) == window
    assert report_day(*window) == day
    params = day_params(day, ["pbx"])
    assert (params["day"], params["day_start"], params["day_end"]) == (day, *window)


def test_the_reports_timetable_runs_midnight_to_midnight_local(bucharest):
    from airflow.serialization.encoders import coerce_to_core_timetable

    timetable = coerce_to_core_timetable(daily_timetable())
    interval = timetable.infer_manual_data_interval(run_after=pendulum.datetime(2026, 10, 26, tz="Europe/Bucharest"))
    assert (interval.start, interval.end) == BUCHAREST_FALL_BACK
    assert report_day(interval.start, interval.end) == date(2026, 10, 25)


@pytest.mark.parametrize(
    "start,end",
    [
        # a whole UTC day is not a Bucharest day
        (datetime(2026, 10, 25, tzinfo=UTC), datetime(2026, 10, 26, tzinfo=UTC)),
        # 24 hours from local midnight on the 25-hour day ends an hour early
        (datetime(2026, 10, 24, 21, tzinfo=UTC), datetime(2026, 10, 25, 21, tzinfo=UTC)),
    ],
)
def test_an_interval_that_is_not_one_local_day_is_refused(bucharest, start, end):
    with pytest.raises(ReportError, match="whole days of Europe/Bucharest"):
        report_day(start, end)


def _local_hours(tz: str, window) -> list[int]:
    with duckdb.connect() as con:
        con.execute((SQL_DIR / "_macros.sql").read_text())
        rows = con.execute("select hour from local_hours(?, ?, ?) order by hour", [tz, *window]).fetchall()
    return [h for (h,) in rows]


def test_the_hour_the_clocks_skip_does_not_exist_that_day():
    # gaps.sql never flags an hour the day does not have
    assert _local_hours("Europe/Bucharest", BUCHAREST_SPRING_FORWARD) == [h for h in range(24) if h != 3]
    assert _local_hours("Europe/Bucharest", BUCHAREST_FALL_BACK) == list(range(24))
    assert _local_hours("UTC", (datetime(2026, 3, 29, tzinfo=UTC), datetime(2026, 3, 30, tzinfo=UTC))) == list(
        range(24)
    )


def test_a_changed_zone_makes_the_next_build_a_full_one(monkeypatch, tmp_path):
    # the incremental facts would otherwise keep their old local dates beside new ones
    from cdr.warehouse.build import project_fingerprint

    monkeypatch.setenv("CDR_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CDR_SITE_TIMEZONE", raising=False)
    utc = project_fingerprint()
    monkeypatch.setenv("CDR_SITE_TIMEZONE", "Europe/Bucharest")
    bucharest = project_fingerprint()
    monkeypatch.setenv("CDR_SITE_TIMEZONE_PBX", "Asia/Jerusalem")
    assert len({utc, bucharest, project_fingerprint()}) == 3
    monkeypatch.delenv("CDR_SITE_TIMEZONE_PBX")
    assert project_fingerprint() == bucharest
