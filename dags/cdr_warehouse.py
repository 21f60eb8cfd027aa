"""cdr_warehouse: dbt build (models and tests) over the lake, then publish warehouse.duckdb.

Triggered when any source's lake asset is updated; can be run on its own. Each run first waits until no pull
run is queued or running (so a back-fill is built once, when it is done), then builds, unless a build since has
already taken in the lake updates that triggered it (then it is skipped at once): see cdr.warehouse.settle. An analyst
holding warehouse.duckdb open never blocks a build and never sees a half-built one. Builds are incremental;
trigger with `full_refresh` on to rebuild every model from the whole lake (after a model's logic changed).
Between lake updates a build tests only the rows it read; the nightly run (CDR_FULL_TESTS_SCHEDULE, default
03:30 UTC), or a run with `full_tests` on, tests every row.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from cdr.airflow.assets import LAKE_ASSETS, WAREHOUSE
from cdr.airflow.queues import warehouse_queue
from cdr.airflow.schedules import warehouse_schedule
from cdr.warehouse.settle import SETTLE_POKE_SECONDS, SETTLE_TIMEOUT_SECONDS


@dag(
    dag_id="cdr_warehouse",
    schedule=warehouse_schedule(LAKE_ASSETS),
    start_date=pendulum.datetime(2020, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=1)},
    tags=["cdr", "warehouse"],
    doc_md=__doc__,
    params={
        "full_refresh": Param(False, type="boolean", description="rebuild every model from the whole lake"),
        "full_tests": Param(False, type="boolean", description="test every row, not only the rows this build read"),
    },
)
def cdr_warehouse():
    # soft_fail: after the timeout the sensor is skipped and the build runs anyway (trigger_rule none_failed).
    @task.sensor(mode="reschedule", poke_interval=SETTLE_POKE_SECONDS, timeout=SETTLE_TIMEOUT_SECONDS, soft_fail=True)
    def wait_for_pulls_to_settle(ti=None) -> bool:
        from cdr.warehouse.settle import pulls_settled

        return pulls_settled(ti.get_dr_count)

    # On many workers, the build runs where dbt's build database is kept (cdr.airflow.queues).
    @task(outlets=[WAREHOUSE], inlets=LAKE_ASSETS, trigger_rule="none_failed", **warehouse_queue())
    def build_and_publish(
        params: dict | None = None, dag_run=None, triggering_asset_events=None, inlet_events=None
    ) -> dict:
        from cdr.warehouse.settle import build_unless_built, started_by_timetable

        params = params or {}
        return build_unless_built(
            full_refresh=bool(params.get("full_refresh")),
            full_tests=bool(params.get("full_tests")) or started_by_timetable(dag_run),
            triggering_asset_events=triggering_asset_events,
            inlet_events=inlet_events,
            lake_assets=LAKE_ASSETS,
        )

    wait_for_pulls_to_settle() >> build_and_publish()


cdr_warehouse()
