"""When cdr_warehouse builds (warehouse.settle): after the pulls settle, and only for lake updates no build took in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from cdr.warehouse import settle

T0 = datetime(2026, 11, 20, 10, tzinfo=UTC)


@dataclass
class Event:
    timestamp: datetime


class Accessor:
    """What a task's inlet_events[asset] gives: a newest-first, limited view of that asset's events."""

    def __init__(self, events):
        self.events, self.reverse, self.n = sorted(events, key=lambda e: e.timestamp), False, None

    def ascending(self, ascending=True):
        self.reverse = not ascending
        return self

    def limit(self, n):
        self.n = n
        return self

    def __iter__(self):
        ordered = list(reversed(self.events)) if self.reverse else self.events
        return iter(ordered[: self.n] if self.n else ordered)


def test_the_pulls_settle_when_no_pull_run_is_queued_or_running():
    asked = []

    def count(dag_id, states):
        asked.append((dag_id, tuple(states)))
        return {"pbx_cdrs": 2}.get(dag_id, 0)

    assert not settle.pulls_settled(count)
    assert {d for d, _ in asked} == set(settle.PULL_DAGS) and {s for _, s in asked} == {("queued", "running")}
    assert settle.pulls_settled(lambda dag_id, states: 0)


def test_a_run_whose_updates_a_finished_build_took_in_is_skipped(data_dir):
    events = {"kazoo": [Event(T0), Event(T0 + timedelta(seconds=30))]}
    assert settle.already_built(settle.triggering_times(events)) is None  # no build yet
    settle.record_seen(T0 + timedelta(seconds=30))
    assert settle.already_built(settle.triggering_times(events)) == T0 + timedelta(seconds=30)
    later = {"kazoo": [Event(T0)], "pbx": [Event(T0 + timedelta(seconds=31))]}
    assert settle.already_built(settle.triggering_times(later)) is None
    # A manual run (no triggering events) always builds; the mark never goes back.
    assert settle.already_built([]) is None
    settle.record_seen(T0)
    assert settle.seen_mark() == T0 + timedelta(seconds=30)


def test_the_mark_is_the_newest_event_of_any_lake_asset():
    inlet = {
        "kazoo": Accessor([Event(T0), Event(T0 + timedelta(minutes=5))]),
        "pbx": Accessor([]),
        "enigma": Accessor([Event(T0 + timedelta(minutes=2))]),
    }
    assert settle.newest_lake_event(inlet, ["kazoo", "pbx", "enigma"]) == T0 + timedelta(minutes=5)
    assert settle.newest_lake_event({"pbx": Accessor([])}, ["pbx"]) is None


def test_a_covered_run_raises_skip_and_builds_nothing(data_dir, monkeypatch):
    from airflow.sdk.exceptions import AirflowSkipException

    import cdr.warehouse.build

    built = []
    monkeypatch.setattr(
        cdr.warehouse.build,
        "build_and_publish",
        lambda full_refresh=False, full_tests=False: built.append((full_refresh, full_tests)) or {"marts.fct_cdr": 1},
    )
    inlet = {"kazoo": Accessor([Event(T0 + timedelta(minutes=1))])}
    events = {"kazoo": [Event(T0)]}
    assert settle.build_unless_built(
        full_refresh=False, triggering_asset_events=events, inlet_events=inlet, lake_assets=["kazoo"]
    ) == {"marts.fct_cdr": 1}
    assert settle.seen_mark() == T0 + timedelta(minutes=1)
    with pytest.raises(AirflowSkipException, match="already in the warehouse"):
        settle.build_unless_built(
            full_refresh=False, triggering_asset_events=events, inlet_events=inlet, lake_assets=["kazoo"]
        )
    # full_refresh always builds.
    settle.build_unless_built(
        full_refresh=True, triggering_asset_events=events, inlet_events=inlet, lake_assets=["kazoo"]
    )
    # and so does the nightly full test: it is not about new data
    settle.build_unless_built(
        full_refresh=False, full_tests=True, triggering_asset_events={}, inlet_events=inlet, lake_assets=["kazoo"]
    )
    assert built == [(False, False), (True, False), (False, True)]


@pytest.mark.parametrize(
    "run_type,nightly", [("scheduled", True), ("asset_triggered", False), ("manual", False), ("backfill", False)]
)
def test_only_the_timetables_run_is_the_nightly_one(run_type, nightly):
    from airflow.utils.types import DagRunType

    @dataclass
    class Run:
        run_type: object

    assert settle.started_by_timetable(Run(DagRunType(run_type))) is nightly
    assert settle.started_by_timetable(None) is False
