"""cdr_warehouse: dbt build (models and tests) over the lake, then publish warehouse.duckdb.

Triggered when any source's lake asset is updated; can be run on its own. An analyst holding
warehouse.duckdb open never blocks a build and never sees a half-built one.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import AssetAny, dag, task

from cdr.assets import LAKE_ASSETS, WAREHOUSE


@dag(
    dag_id="cdr_warehouse",
    schedule=AssetAny(*LAKE_ASSETS),
    start_date=pendulum.datetime(2020, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=1)},
    tags=["cdr", "warehouse"],
    doc_md=__doc__,
)
def cdr_warehouse():
    @task(outlets=[WAREHOUSE])
    def build_and_publish() -> dict:
        from cdr.warehouse import build_and_publish

        return build_and_publish()

    build_and_publish()


cdr_warehouse()
