"""voicenter_cdrs: load what the Voicenter receiver (`cdr-receiver`) staged since the last run into the lake.

Every 5 minutes. Only sealed segments are taken; the one being written waits for the next run. A re-run or a
crash mid-load neither loses nor duplicates: a segment is one lake unit and moves aside only once loaded.

With receivers on several hosts (CDR_VOICENTER_RECEIVER_QUEUES, see cdr.airflow.queues and docs/scale-out.md) there is
one load task per host, each on that host's Celery queue, reading that host's landing folder.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from cdr.airflow.assets import lake_asset
from cdr.airflow.queues import receiver_queues, task_id_for


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
    def load() -> dict:
        from cdr.sources.voicenter.account import configured_settings
        from cdr.sources.voicenter.load import load_staged

        return load_staged(settings=configured_settings())

    queues = receiver_queues()
    if not queues:
        task(outlets=[lake_asset("voicenter")])(load)()
    for queue in queues:
        task(task_id=task_id_for(queue), queue=queue, outlets=[lake_asset("voicenter")])(load)()


voicenter_cdrs()
