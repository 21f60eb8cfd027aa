"""A running Airflow's REST API (/api/v2) as the end-to-end tests drive it: runs, task instances, and waiting
until DAGs are quiet."""

from __future__ import annotations

import time
from collections.abc import Callable

import requests

BUSY = ("queued", "running")


def wait_for(check, timeout: float, what: str, alive: Callable[[], None] | None = None):
    """The first truthy answer of ``check``, asked every 3 s for up to ``timeout``; ``alive`` raises if what is
    being waited on has died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive:
            alive()
        found = check()
        if found:
            return found
        time.sleep(3)
    raise AssertionError(f"no {what} after {timeout:.0f}s")


class AirflowApi:
    """Set ``url`` (the API server's) and ``token`` (a JWT from /auth/token)."""

    url = ""
    token = ""

    def alive(self) -> None:
        """Raise if the Airflow processes stopped (subclasses that started them)."""

    def api(self, method: str, path: str, **kwargs):
        response = requests.request(
            method, f"{self.url}/api/v2{path}", timeout=30, headers={"Authorization": f"Bearer {self.token}"}, **kwargs
        )
        assert response.ok, f"{method} {path}: HTTP {response.status_code} {response.text[:500]}"
        return response.json()

    def runs(self, dag_id: str, **filters) -> list[dict]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100, **filters})["dag_runs"]

    def task_instances(self, dag_id: str, **filters) -> list[dict]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns/~/taskInstances", params={"limit": 500, **filters})[
            "task_instances"
        ]

    def busy(self, dag_ids) -> dict[str, int]:
        counts = {d: len(self.runs(d, state=list(BUSY))) for d in dag_ids}
        return {d: n for d, n in counts.items() if n}

    def wait_idle(self, dag_ids, timeout: float, what: str, quiet_seconds: float = 30) -> None:
        """None of these DAGs has a run queued or running, and that holds for ``quiet_seconds``: the scheduler
        creates an asset-triggered run a loop after the events, so one quiet look is not yet quiet."""
        deadline = time.monotonic() + timeout
        quiet_since = None
        while time.monotonic() < deadline:
            self.alive()
            if self.busy(dag_ids):
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= quiet_seconds:
                return
            time.sleep(3)
        raise AssertionError(f"{what}: still queued or running after {timeout:.0f}s: {self.busy(dag_ids)}")
