"""enigma_cdrs: drain the Enigma dialer's Redis LISTs into the lake in bounded batches, every 5 minutes.

Connection: enigma_default (keys and timezone in its extra). A batch leaves Redis only after its Parquet file
is durably written, so a run killed at any instant loses nothing; one drain at a time (max_active_runs=1,
and a lease in Redis that refuses a stray second consumer).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from cdr.airflow.assets import lake_asset

# A run stops taking new batches after this, well inside the 5-minute schedule.
TIME_BUDGET_SECONDS = 240


@dag(
    dag_id="enigma_cdrs",
    schedule="*/5 * * * *",
    start_date=pendulum.datetime(2020, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=1), "execution_timeout": timedelta(minutes=15)},
    tags=["cdr", "source", "enigma"],
    doc_md=__doc__,
)
def enigma_cdrs():
    @task(outlets=[lake_asset("enigma")])
    def drain() -> dict:
        from cdr.registry import region_for
        from cdr.sources.enigma.drain import drain
        from cdr.sources.enigma.hook import EnigmaHook

        hook = EnigmaHook()
        return drain(
            hook.get_conn(),
            hook.keys,
            timezone_name=hook.timezone,
            default_region=region_for("enigma", hook.extra),
            budget_seconds=TIME_BUDGET_SECONDS,
        )

    drain()


enigma_cdrs()
