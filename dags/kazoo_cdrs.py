"""kazoo_cdrs: pull the KAZOO CDRs created in each data interval (UTC) into the lake, every page.

Schedule: CDR_PULL_SCHEDULE (default @hourly). Connection: kazoo_default. A run replaces what an earlier
run of the same interval wrote, so re-runs and back-fills never duplicate.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, task

from cdr.airflow.assets import lake_asset
from cdr.airflow.schedules import pull_start_date, pull_timetable


@dag(
    dag_id="kazoo_cdrs",
    schedule=pull_timetable(),
    start_date=pull_start_date(),
    catchup=False,
    max_active_runs=4,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2), "retry_exponential_backoff": True},
    tags=["cdr", "source", "kazoo"],
    doc_md=__doc__,
)
def kazoo_cdrs():
    @task(outlets=[lake_asset("kazoo")])
    def pull(data_interval_start=None, data_interval_end=None) -> dict:
        from cdr.registry import region_for
        from cdr.sources.kazoo.extract import pull_interval
        from cdr.sources.kazoo.hook import KazooHook

        hook = KazooHook()
        return pull_interval(
            hook.get_conn(),
            data_interval_start,
            data_interval_end,
            default_region=region_for("kazoo", hook.extra),
            own_numbers=hook.own_numbers,
        )

    pull()


kazoo_cdrs()
