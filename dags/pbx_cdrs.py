"""pbx_cdrs: pull the While1 Voice PBX CDRs whose call time falls in each data interval (UTC) into the lake.

Schedule: CDR_PULL_SCHEDULE (default @hourly). Connection: pbx_default. The filter is the PBX's local
wall-clock time (the connection's timezone). Each run also re-reads the connection's `lookback_hours`
(default 4) before its interval, so calls still going on at the last pull are not lost. A run replaces what
an earlier run of the same interval wrote; the warehouse counts each CDR id once.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, task

from cdr.airflow.assets import lake_asset
from cdr.airflow.schedules import pull_start_date, pull_timetable


@dag(
    dag_id="pbx_cdrs",
    schedule=pull_timetable(),
    start_date=pull_start_date(),
    catchup=False,
    max_active_runs=4,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2), "retry_exponential_backoff": True},
    tags=["cdr", "source", "pbx"],
    doc_md=__doc__,
)
def pbx_cdrs():
    @task(outlets=[lake_asset("pbx")])
    def pull(data_interval_start=None, data_interval_end=None) -> dict:
        from cdr.registry import region_for
        from cdr.sources.pbx.extract import pull_interval
        from cdr.sources.pbx.hook import PbxHook

        hook = PbxHook()
        return pull_interval(
            hook.get_conn(),
            data_interval_start,
            data_interval_end,
            lookback_hours=hook.lookback_hours,
            own_numbers=hook.own_numbers,
            default_region=region_for("pbx", hook.extra),
        )

    pull()


pbx_cdrs()
