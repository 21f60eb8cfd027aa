"""voicenter_reconcile: prove the Voicenter webhook missed nothing, from Voicenter's Call Log API.

Schedule: CDR_RECONCILE_SCHEDULE (default @hourly), each run's data interval one period (UTC). The first task
waits (rescheduling itself) until 15 minutes after the interval's end, since CDRs reach the log minutes after
the call. Connection: voicenter_default. A CDR the log has and the webhook did not deliver is added to the
Voicenter lake (`_origin` call_log); one the webhook delivered that the log lacks is counted, never deleted.
A run replaces what an earlier run of the same interval wrote, so re-runs and back-fills never duplicate;
runs go one at a time, since the API's rate limit is per organisation.
`airflow dags test voicenter_reconcile 2026-11-21` with CDR_RECONCILE_SCHEDULE=@daily reconciles 2026-11-20.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, task

from cdr.airflow.assets import lake_asset
from cdr.airflow.schedules import pull_start_date, reconcile_timetable


@dag(
    dag_id="voicenter_reconcile",
    schedule=reconcile_timetable(),
    start_date=pull_start_date(),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5), "retry_exponential_backoff": True},
    tags=["cdr", "source", "voicenter"],
    doc_md=__doc__,
)
def voicenter_reconcile():
    @task.sensor(mode="reschedule", poke_interval=60, timeout=2 * 3600)
    def wait_for_the_log(data_interval_end=None) -> bool:
        from cdr.sources.voicenter.reconcile import settled

        return settled(data_interval_end)

    @task(outlets=[lake_asset("voicenter")])
    def reconcile(data_interval_start=None, data_interval_end=None) -> dict:
        from cdr.sources.voicenter.account import AccountSettings
        from cdr.sources.voicenter.hook import VoicenterHook
        from cdr.sources.voicenter.reconcile import reconcile_interval

        hook = VoicenterHook()
        return reconcile_interval(
            hook.get_conn(),
            data_interval_start,
            data_interval_end,
            settings=AccountSettings.from_extra(hook.extra),
        )

    wait_for_the_log() >> reconcile()


voicenter_reconcile()
