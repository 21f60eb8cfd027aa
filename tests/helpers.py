"""Shared by the tests: what the demo data says should arrive, and small HTTP helpers."""

from __future__ import annotations

from datetime import datetime

import requests

from cdr.kazoo.client import to_gregorian


def kazoo_ids_created_in(rows: list[dict], start: datetime, end: datetime) -> set[str]:
    """Ids of the rows whose creation time (start + duration, as the simulator and Crossbar define it) is in [start, end)."""
    low, high = to_gregorian(start), to_gregorian(end)
    return {r["id"] for r in rows if low <= r["timestamp"] + int(r.get("duration_seconds") or 0) < high}


def control(url: str, **settings) -> dict:
    response = requests.post(f"{url}/__control", json=settings, timeout=5)
    response.raise_for_status()
    return response.json()


def stats(url: str) -> dict:
    return requests.get(f"{url}/__stats", timeout=5).json()
