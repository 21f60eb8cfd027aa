"""DAG integrity: every DAG file imports cleanly, with the contract's ids, schedules and Assets."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pendulum
import pytest
from airflow.timetables.base import TimeRestriction

from tests.conftest import ROOT


def load_dags(monkeypatch, schedule: str | None = None):
    from airflow.dag_processing.dagbag import DagBag

    if schedule:
        monkeypatch.setenv("CDR_PULL_SCHEDULE", schedule)
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    return bag.dags


def core_timetable(dag):
    from airflow.serialization.encoders import coerce_to_core_timetable

    return coerce_to_core_timetable(dag.timetable)


PULL_DAGS = {"kazoo_cdrs": "cdr://lake/kazoo", "pbx_cdrs": "cdr://lake/pbx"}


def test_dag_ids(monkeypatch):
    assert {*PULL_DAGS, "enigma_cdrs", "voicenter_cdrs", "cdr_warehouse", "cdr_reports", "voicenter_reconcile"} <= set(
        load_dags(monkeypatch)
    )


def test_the_report_covers_whole_utc_days_whatever_the_pull_schedule(monkeypatch):
    # The reports' schedule is its own: a pull schedule in the environment must not change its interval.
    dag = load_dags(monkeypatch, "*/15 * * * *")["cdr_reports"]
    timetable = core_timetable(dag)
    interval = timetable.infer_manual_data_interval(run_after=pendulum.datetime(2026, 11, 21, tz="UTC"))
    assert (interval.start, interval.end) == (
        pendulum.datetime(2026, 11, 20, tz="UTC"),
        pendulum.datetime(2026, 11, 21, tz="UTC"),
    )
    from airflow.timetables.base import TimeRestriction

    restriction = TimeRestriction(earliest=dag.start_date, latest=None, catchup=True)
    following = timetable.next_dagrun_info(last_automated_data_interval=interval, restriction=restriction)
    assert following.data_interval.start == interval.end
    assert following.data_interval.end - following.data_interval.start == timedelta(days=1)


def test_the_report_reads_the_warehouse_waits_for_it_and_mails_after_writing(monkeypatch):
    dag = load_dags(monkeypatch)["cdr_reports"]
    tasks = dag.task_dict
    assert set(tasks) == {"wait_for_warehouse", "write_report", "mail_report"}
    wait, write, mail = tasks["wait_for_warehouse"], tasks["write_report"], tasks["mail_report"]
    assert wait.mode == "reschedule" and wait.soft_fail and write.trigger_rule == "none_failed"
    assert write.upstream_task_ids == {"wait_for_warehouse"} and mail.upstream_task_ids == {"write_report"}
    assert {a.name for a in write.inlets} == {"cdr_warehouse"} and {a.name for a in write.outlets} == {"cdr_reports"}


@pytest.mark.parametrize(
    "dag_id,asset", [("enigma_cdrs", "cdr://lake/enigma"), ("voicenter_cdrs", "cdr://lake/voicenter")]
)
def test_the_5_minute_loaders_run_alone_and_feed_the_warehouse(monkeypatch, dag_id, asset):
    dags = load_dags(monkeypatch)
    loader = dags[dag_id]
    assert loader.max_active_runs == 1 and "*/5 * * * *" in str(loader.timetable)
    outlets = {o.uri for t in loader.tasks for o in t.outlets}
    assert outlets == {asset}
    assert outlets <= {a.uri for a in dags["cdr_warehouse"].timetable.asset_condition.objects}


@pytest.mark.parametrize("dag_id", sorted(PULL_DAGS))
@pytest.mark.parametrize(
    "schedule,span",
    [(None, timedelta(hours=1)), ("@daily", timedelta(days=1)), ("*/15 * * * *", timedelta(minutes=15))],
)
def test_pull_runs_cover_a_whole_period_of_the_schedule(monkeypatch, dag_id, schedule, span):
    dag = load_dags(monkeypatch, schedule)[dag_id]
    timetable = core_timetable(dag)
    interval = timetable.infer_manual_data_interval(run_after=pendulum.datetime(2026, 11, 20, 10, 37, tz="UTC"))
    assert interval.end - interval.start == span  # not the empty interval of a CronTriggerTimetable
    assert interval.end <= pendulum.datetime(2026, 11, 20, 10, 37, tz="UTC")
    # Consecutive scheduled runs tile time: each starts where the previous ended.
    from airflow.timetables.base import DataInterval, TimeRestriction

    restriction = TimeRestriction(earliest=dag.start_date, latest=None, catchup=True)
    first = timetable.next_dagrun_info(last_automated_data_interval=interval, restriction=restriction)
    assert first.data_interval.start == interval.end and first.data_interval.end - first.data_interval.start == span
    second = timetable.next_dagrun_info(
        last_automated_data_interval=DataInterval(first.data_interval.start, first.data_interval.end),
        restriction=restriction,
    )
    assert second.data_interval.start == first.data_interval.end


@pytest.mark.parametrize("dag_id", sorted(PULL_DAGS))
def test_pull_updates_the_asset_the_warehouse_waits_for(monkeypatch, dag_id):
    dags = load_dags(monkeypatch)
    outlets = {o.uri for t in dags[dag_id].tasks for o in t.outlets}
    assert outlets == {PULL_DAGS[dag_id]}
    condition = dags["cdr_warehouse"].timetable.asset_condition
    assert outlets <= {asset.uri for asset in condition.objects}
    assert dags["cdr_warehouse"].max_active_runs == 1


def test_the_warehouse_waits_for_every_dag_that_writes_the_lake(monkeypatch):
    from cdr.warehouse import settle

    dags = load_dags(monkeypatch)
    lake = {f"cdr://lake/{name}" for name in ("kazoo", "pbx", "enigma", "voicenter")}
    writers = {dag_id for dag_id, dag in dags.items() for t in dag.tasks for o in t.outlets if o.uri in lake}
    assert writers == {"kazoo_cdrs", "pbx_cdrs", "enigma_cdrs", "voicenter_cdrs", "voicenter_reconcile"}
    assert set(settle.PULL_DAGS) == writers


def test_dag_files_do_no_io_and_import_no_heavy_modules_at_parse_time():
    code = (
        "import sys, runpy, glob\n"
        f"for f in sorted(glob.glob({str(ROOT / 'dags')!r} + '/*.py')): runpy.run_path(f)\n"
        "heavy = [m for m in ('duckdb', 'pyarrow', 'requests', 'dbt', 'cdr.warehouse.build',"
        " 'cdr.sources.kazoo.client', 'cdr.sources.pbx.client', 'cdr.sources.enigma.drain', 'redis', 'matplotlib',"
        " 'cdr.reporting.build') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_the_warehouse_build_can_be_asked_to_rebuild_everything(monkeypatch):
    dag = load_dags(monkeypatch)["cdr_warehouse"]
    assert dag.params["full_refresh"] is False  # incremental unless the person triggering it says so
    assert dag.params["full_tests"] is False


@pytest.mark.parametrize("cron,expected", [(None, "30 3 * * *"), ("0 1 * * *", "0 1 * * *")])
def test_the_warehouse_tests_every_row_once_a_night(monkeypatch, cron, expected):
    if cron:
        monkeypatch.setenv("CDR_FULL_TESTS_SCHEDULE", cron)
    timetable = load_dags(monkeypatch)["cdr_warehouse"].timetable
    # beside the lake assets, a time of day: the runs it starts are the ones that test every row
    assert timetable.timetable._expression == expected
    after = timetable.timetable.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=datetime(2026, 11, 20, tzinfo=UTC), latest=None, catchup=True),
    )
    hour, minute = int(expected.split()[1]), int(expected.split()[0])
    assert after.run_after == datetime(2026, 11, 20, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize("schedule,span", [(None, timedelta(hours=1)), ("@daily", timedelta(days=1))])
def test_reconciliation_covers_a_period_of_its_own_schedule_after_a_settle_wait(monkeypatch, schedule, span):
    if schedule:
        monkeypatch.setenv("CDR_RECONCILE_SCHEDULE", schedule)
    else:
        monkeypatch.delenv("CDR_RECONCILE_SCHEDULE", raising=False)
    dags = load_dags(monkeypatch, "*/15 * * * *")  # the pulls' schedule is not the reconciliation's
    dag = dags["voicenter_reconcile"]
    interval = core_timetable(dag).infer_manual_data_interval(run_after=pendulum.datetime(2026, 11, 21, tz="UTC"))
    assert interval.end - interval.start == span and interval.end == pendulum.datetime(2026, 11, 21, tz="UTC")
    wait, reconcile = dag.task_dict["wait_for_the_log"], dag.task_dict["reconcile"]
    assert wait.mode == "reschedule" and reconcile.upstream_task_ids == {"wait_for_the_log"}
    assert {o.uri for o in reconcile.outlets} == {"cdr://lake/voicenter"} and dag.max_active_runs == 1


def test_on_many_workers_each_receiver_host_s_segments_load_on_its_own_queue(monkeypatch):
    """CDR_VOICENTER_RECEIVER_QUEUES: one load task per receiver host, on that host's Celery queue, each updating
    the Asset the warehouse waits for; unset, the one `load` task on the default queue (docs/scale-out.md)."""
    from airflow.configuration import conf

    default_queue = conf.get("operators", "default_queue")
    single = load_dags(monkeypatch)["voicenter_cdrs"].task_dict
    assert set(single) == {"load"} and single["load"].queue == default_queue
    monkeypatch.setenv("CDR_VOICENTER_RECEIVER_QUEUES", "voicenter-rx1, voicenter-rx2,voicenter-rx1")
    tasks = load_dags(monkeypatch)["voicenter_cdrs"].task_dict
    assert {task_id: task.queue for task_id, task in tasks.items()} == {
        "load_voicenter_rx1": "voicenter-rx1",
        "load_voicenter_rx2": "voicenter-rx2",
    }
    for task in tasks.values():
        assert [outlet.uri for outlet in task.outlets] == ["cdr://lake/voicenter"]


def test_on_many_workers_the_build_runs_on_the_warehouse_queue(monkeypatch):
    from airflow.configuration import conf

    build = load_dags(monkeypatch)["cdr_warehouse"].task_dict["build_and_publish"]
    assert build.queue == conf.get("operators", "default_queue")
    monkeypatch.setenv("CDR_WAREHOUSE_QUEUE", "warehouse")
    tasks = load_dags(monkeypatch)["cdr_warehouse"].task_dict
    assert tasks["build_and_publish"].queue == "warehouse"
    assert tasks["wait_for_pulls_to_settle"].queue == conf.get("operators", "default_queue")  # any worker may wait
    monkeypatch.setenv("CDR_WAREHOUSE_QUEUE", "not a queue")
    from airflow.dag_processing.dagbag import DagBag

    assert "not a queue" in str(DagBag(dag_folder=str(ROOT / "dags")).import_errors)


@pytest.mark.parametrize("dag_id", [*sorted(PULL_DAGS), "voicenter_reconcile"])
def test_history_of_any_age_can_be_back_filled(monkeypatch, dag_id):
    # By default back to 2000 (the earliest call the model takes): the vendors' own KAZOO examples are of 2015.
    assert load_dags(monkeypatch)[dag_id].start_date <= pendulum.datetime(2015, 6, 26, tz="UTC")
    monkeypatch.setenv("CDR_PULL_START_DATE", "2012-03-01")
    assert load_dags(monkeypatch)[dag_id].start_date == pendulum.datetime(2012, 3, 1, tz="UTC")


def test_a_start_date_that_is_not_a_date_is_refused(monkeypatch):
    from cdr.config import pull_start_date

    monkeypatch.setenv("CDR_PULL_START_DATE", "last year")
    with pytest.raises(ValueError, match="CDR_PULL_START_DATE"):
        pull_start_date()
