"""cdr_warehouse: dbt build (models and tests) over the lake, then publish warehouse.duckdb.

Triggered when any source's lake asset is updated; can be run on its own. An analyst holding
warehouse.duckdb open never blocks a build and never sees a half-built one. Builds are incremental; trigger
with `full_refresh` on to rebuild every model from the whole lake (after a model's logic changed).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import AssetAny, Param, dag, task

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
    params={"full_refresh": Param(False, type="boolean", description="rebuild every model from the whole lake")},
)
def cdr_warehouse():
    @task(outlets=[WAREHOUSE])
    def build_and_publish(params: dict | None = None) -> dict:
        from cdr.warehouse import build_and_publish

        return build_and_publish(full_refresh=bool((params or {}).get("full_refresh")))

    build_and_publish()


cdr_warehouse()
