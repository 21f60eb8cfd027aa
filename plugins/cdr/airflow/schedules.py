"""Schedules the DAGs share, built from the environment (docs/contract.md), never from airflow.cfg."""

from __future__ import annotations

import pendulum
from airflow.sdk import AssetAny, CronDataIntervalTimetable
from airflow.timetables.assets import AssetOrTimeSchedule
from airflow.timetables.trigger import CronTriggerTimetable

from cdr import config
from cdr.sitetime import site_timezone_name


def pull_timetable() -> CronDataIntervalTimetable:
    """CDR_PULL_SCHEDULE as a timetable whose data interval spans one period.

    Airflow 3 turns a plain cron or preset into a CronTriggerTimetable, whose interval is empty; a pull must
    cover [previous tick, this tick) so that back-fills and re-runs tile time without gaps or overlaps.
    """
    return CronDataIntervalTimetable(config.pull_schedule(), timezone="UTC")


def reconcile_timetable() -> CronDataIntervalTimetable:
    """CDR_RECONCILE_SCHEDULE (default @hourly) as a timetable whose data interval spans one period, as the
    pulls'; the run's settle delay is a sensor inside the DAG, so intervals stay aligned to the schedule."""
    return CronDataIntervalTimetable(config.reconcile_schedule(), timezone="UTC")


def daily_timetable() -> CronDataIntervalTimetable:
    """One run per business day of the call centre (CDR_SITE_TIMEZONE, default UTC) whose data interval is that
    day, local midnight to local midnight (23 or 25 hours across a daylight-saving change), due when it ends."""
    return CronDataIntervalTimetable("@daily", timezone=site_timezone_name())


def warehouse_schedule(lake_assets) -> AssetOrTimeSchedule:
    """A build whenever a source's lake is updated, and once a night (CDR_FULL_TESTS_SCHEDULE) a build that
    tests every row: the nightly run is the one a timetable, not an asset event, started."""
    # Airflow types this core timetable's assets as the scheduler's serialized ones; a DAG file gives it the SDK's,
    # which Airflow serializes alike. airflow.sdk's AssetOrTimeSchedule type-checks but is another timetable class.
    return AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(config.full_tests_schedule(), timezone="UTC"),
        assets=AssetAny(*lake_assets),  # type: ignore[arg-type]
    )


def pull_start_date() -> pendulum.DateTime:
    """The pull DAGs' start date: back-fills may reach back to it (CDR_PULL_START_DATE, cdr.config); nothing runs
    for the past on its own (catchup is off)."""
    first = config.pull_start_date()
    return pendulum.datetime(first.year, first.month, first.day, tz="UTC")
