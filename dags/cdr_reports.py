"""cdr_reports: the daily report of each business day of the call centre (CDR_SITE_TIMEZONE, default UTC), written
under $CDR_DATA_DIR/reports/<YYYY-MM-DD>/.

Schedule: daily, each run's data interval one local day, local midnight to local midnight (23 or 25 hours across
a daylight-saving change; a time schedule, not the warehouse's Asset: in Airflow 3
an asset-triggered run has no data interval). The first task waits (rescheduling itself, up to 6 hours) for a
warehouse published at least an hour after the day ended; if none comes, the report is written anyway and says
at its top that late calls may be missing. The report (report.html and the CSV behind every table and chart)
reads warehouse.duckdb read-only (with CDR_REPORT_MASK_NUMBERS, the masked copy warehouse_masked.duckdb)
and replaces that day's directory whole, so re-runs and back-fills regenerate
a day cleanly. Mail: with the Connection smtp_default, to the Variable cdr_report_recipients; else only written.
`airflow dags test cdr_reports 2026-11-21` reports 2026-11-20.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, task

from cdr.airflow.assets import REPORTS, WAREHOUSE
from cdr.airflow.schedules import daily_timetable, pull_start_date


@dag(
    dag_id="cdr_reports",
    schedule=daily_timetable(),
    start_date=pull_start_date(),
    catchup=False,
    max_active_runs=2,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=5)},
    tags=["cdr", "reports"],
    doc_md=__doc__,
)
def cdr_reports():
    @task.sensor(mode="reschedule", poke_interval=300, timeout=6 * 3600, soft_fail=True)
    def wait_for_warehouse(data_interval_end=None) -> bool:
        from cdr.reporting.build import report_warehouse
        from cdr.reporting.readiness import holds_day

        return holds_day(data_interval_end, report_warehouse())

    @task(inlets=[WAREHOUSE], outlets=[REPORTS], trigger_rule="none_failed")
    def write_report(data_interval_start=None, data_interval_end=None) -> dict:
        from cdr.reporting.build import write_report

        return write_report(data_interval_start, data_interval_end)

    @task
    def mail_report(report: dict) -> dict:
        from cdr.reporting.delivery import deliver

        return deliver(report)

    report = write_report()
    wait_for_warehouse() >> report
    mail_report(report)


cdr_reports()
