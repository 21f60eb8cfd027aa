"""Which Celery queue a task runs on, when Airflow runs on many machines (docs/scale-out.md).

Unset, every task goes to Airflow's default queue, as with the LocalExecutor (which ignores queues).

- ``CDR_WAREHOUSE_QUEUE``: the queue of ``cdr_warehouse``'s build. dbt's build database (build/ under
  CDR_DATA_DIR) is what makes the next build incremental, so every build must run on the one worker that keeps it:
  give that worker this queue (``airflow celery worker --queues <it>``) and no other worker.
- ``CDR_VOICENTER_RECEIVER_QUEUES``: one queue per host running ``cdr-receiver``, comma-separated. The receiver
  stages on its own disk; ``voicenter_cdrs`` then loads each host's sealed segments by a task on that host's
  queue, served by a worker on that host only. Segment names are unique across hosts (time and a random id) and
  each is one lake unit, so every segment reaches the lake exactly once whichever host sealed it.

Read when the DAG files are parsed: set them where the dag-processor runs too.
"""

from __future__ import annotations

import re

from cdr.settings import settings

_QUEUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _checked(name: str, setting: str) -> str:
    if not _QUEUE.match(name):
        raise ValueError(f"{setting}: {name!r} is not a queue name (letters, digits, '.', '_', '-')")
    return name


def warehouse_queue() -> dict:
    """``{"queue": name}`` for the build task, or ``{}`` (the default queue)."""
    name = settings().warehouse_queue.strip()
    return {"queue": _checked(name, "CDR_WAREHOUSE_QUEUE")} if name else {}


def receiver_queues() -> list[str]:
    """The receiver hosts' queues, in order, each once; empty: one receiver, loaded from the default queue."""
    names: list[str] = []
    for part in settings().voicenter_receiver_queues.split(","):
        part = part.strip()
        if part and part not in names:
            names.append(_checked(part, "CDR_VOICENTER_RECEIVER_QUEUES"))
    return names


def task_id_for(queue: str) -> str:
    """The load task of one receiver host: ``load_<queue>`` with what a task id cannot hold made ``_``."""
    return "load_" + re.sub(r"[^A-Za-z0-9_]", "_", queue)
