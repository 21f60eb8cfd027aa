"""voicenter_cdrs: load what the Voicenter receiver (`cdr-receiver`) staged since the last run into the lake.

Every 5 minutes. Only sealed segments are taken; the one being written waits for the next run. A re-run or a
crash mid-load neither loses nor duplicates: a segment is one lake unit and moves aside only once loaded.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from cdr.assets import lake_asset


@dag(
    dag_id="voicenter_cdrs",
    schedule="*/5 * * * *",
    start_date=pendulum.datetime(2020, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=1)},
    tags=["cdr", "source", "voicenter"],
    doc_md=__doc__,
)
def voicenter_cdrs():
    @task(outlets=[lake_asset("voicenter")])
    def load() -> dict:
        from cdr.voicenter.load import configured_region, load_staged

        return load_staged(default_region=configured_region())

    load()


voicenter_cdrs()
