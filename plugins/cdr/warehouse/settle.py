"""When cdr_warehouse builds: once the pulls have settled, and only for lake updates no build has taken in yet.

Airflow queues a `cdr_warehouse` run for each batch of lake Asset events, whatever its max_active_runs: during a
back-fill of many intervals the runs pile up, one per pull or a few. So each run

1. waits (a sensor, rescheduling itself) until no run of a pull DAG is queued or running, so the build sees
   every interval of the back-fill; after SETTLE_TIMEOUT it builds anyway, so a stuck pull cannot hold the
   warehouse back for ever;
2. builds only if one of the events that triggered it is newer than the newest lake event a finished build had
   already seen when it started reading the lake (kept in build/lake_events_seen.json): a run queued behind a
   build that took in its events exits at once, skipped.

Invariant: an event at or before the recorded mark was created after its pull's files were in the lake and
before that build read the lake, so its data is in the published warehouse. The mark is read from Airflow's own
event timestamps, never from a local clock. A run without triggering events (by hand, `dags test`, a
`full_refresh`) always builds.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from cdr import config
from cdr.fsutil import atomic_write_bytes
from cdr.registry import SOURCES

log = logging.getLogger(__name__)

# The DAGs whose runs write the lake (their tasks' outlets are cdr.airflow.assets.LAKE_ASSETS), from the registry, so
# a new source's runs are waited for too.
PULL_DAGS = tuple(dag_id for s in SOURCES.values() for dag_id in s.writer_dags)
BUSY_STATES = ("queued", "running")
SETTLE_POKE_SECONDS = 30
SETTLE_TIMEOUT_SECONDS = 3600
SEEN_FILE = "lake_events_seen.json"


def busy_pulls(count_runs: Callable[..., int]) -> dict[str, int]:
    """Queued or running runs per pull DAG; ``count_runs`` is the task's ``ti.get_dr_count``."""
    busy = {}
    for dag_id in PULL_DAGS:
        runs = count_runs(dag_id=dag_id, states=list(BUSY_STATES))
        if runs:
            busy[dag_id] = runs
    return busy


def pulls_settled(count_runs: Callable[..., int]) -> bool:
    busy = busy_pulls(count_runs)
    if busy:
        log.info(
            "waiting for the pulls to settle: %s", ", ".join(f"{d} {n} queued or running" for d, n in busy.items())
        )
        return False
    log.info("no pull run is queued or running: building")
    return True


def _timestamps(events: Iterable[Any]) -> list[datetime]:
    return [e.timestamp for e in events]


def triggering_times(triggering_asset_events: Any) -> list[datetime]:
    """Timestamps of the events that made this run (a mapping asset -> events; empty for a manual run)."""
    if not triggering_asset_events:
        return []
    return [t for events in triggering_asset_events.values() for t in _timestamps(events)]


def newest_lake_event(inlet_events: Any, assets: Iterable[Any]) -> datetime | None:
    """The newest event of any lake Asset as Airflow knows it now (``inlet_events`` of a task with those inlets)."""
    newest = None
    for asset in assets:
        for event in inlet_events[asset].ascending(False).limit(1):
            newest = event.timestamp if newest is None else max(newest, event.timestamp)
    return newest


def seen_mark() -> datetime | None:
    path = config.build_dir() / SEEN_FILE
    if not path.exists():
        return None
    return datetime.fromisoformat(json.loads(path.read_text())["newest_lake_event_at"])


def record_seen(newest: datetime | None) -> None:
    """After a successful build: every lake event up to ``newest`` is in the published warehouse."""
    previous = seen_mark()
    if newest is None or (previous is not None and newest <= previous):
        return
    atomic_write_bytes(
        config.build_dir() / SEEN_FILE, json.dumps({"newest_lake_event_at": newest.isoformat()}).encode()
    )


def already_built(event_times: list[datetime]) -> datetime | None:
    """The mark of the build that took in all these events, or None if one of them is new (or there are none)."""
    mark = seen_mark()
    if not event_times or mark is None or max(event_times) > mark:
        return None
    return mark


def started_by_timetable(dag_run: Any) -> bool:
    """True for the warehouse DAG's nightly run: its timetable started it, not an asset event or a person."""
    run_type = getattr(dag_run, "run_type", None)
    return getattr(run_type, "value", run_type) == "scheduled"


def build_unless_built(
    *,
    full_refresh: bool,
    triggering_asset_events: Any,
    inlet_events: Any,
    lake_assets: Iterable[Any],
    full_tests: bool = False,
) -> dict:
    """The warehouse DAG's build: skipped when a finished build already holds every triggering event, unless it
    is to rebuild or to test every row (the nightly run), which new data does not decide."""
    from airflow.sdk.exceptions import AirflowSkipException

    from cdr.warehouse.build import build_and_publish

    times = triggering_times(triggering_asset_events)
    mark = None if full_refresh or full_tests else already_built(times)
    if mark is not None:
        raise AirflowSkipException(
            f"the {len(times)} lake update(s) of this run, the newest at {max(times).isoformat()}, are already in "
            f"the warehouse (a build took in every update up to {mark.isoformat()})"
        )
    # Read before the build reads the lake: whatever this build publishes holds at least these events.
    newest = newest_lake_event(inlet_events, lake_assets)
    log.info(
        "building for %d lake update(s); newest lake update known now: %s",
        len(times),
        newest.isoformat() if newest else "none",
    )
    counts = build_and_publish(full_refresh=full_refresh, full_tests=full_tests)
    record_seen(newest)
    return counts
