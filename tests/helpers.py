"""Shared by the tests: what the demo data says should arrive, and small HTTP helpers."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import requests

from cdr.kazoo.client import to_gregorian


def kazoo_ids_created_in(rows: list[dict], start: datetime, end: datetime) -> set[str]:
    """Ids of the rows whose creation time (start + duration, as the simulator and Crossbar define it) is in
    [start, end)."""
    low, high = to_gregorian(start), to_gregorian(end)
    return {r["id"] for r in rows if low <= r["timestamp"] + int(r.get("duration_seconds") or 0) < high}


def voicenter_instant(cdr: dict, zone: str = "Asia/Jerusalem") -> datetime:
    """The true UTC start of a Voicenter webhook CDR: its ``time`` is the account's wall-clock time written as
    epoch seconds (the vendor's examples). Worked out here with zoneinfo alone, not with cdr.voicenter.times."""
    wall = datetime.fromtimestamp(int(cdr["time"]), UTC).replace(tzinfo=None)
    return wall.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def voicenter_time(moment: datetime, zone: str = "Asia/Jerusalem") -> int:
    """A UTC instant as Voicenter's webhook writes ``time``: the account's wall-clock time as epoch seconds."""
    return int(moment.astimezone(ZoneInfo(zone)).replace(tzinfo=UTC).timestamp())


def control(url: str, **settings) -> dict:
    response = requests.post(f"{url}/__control", json=settings, timeout=5)
    response.raise_for_status()
    return response.json()


def stats(url: str) -> dict:
    return requests.get(f"{url}/__stats", timeout=5).json()


def pbx_ids_read_by(
    rows: list[dict], start: datetime, end: datetime, lookback_hours: float = 4.0, now: float | None = None
) -> set[str]:
    """Ids a pull of [start, end) gets: call start (uniqueid's Unix time) in [start - lookback, end),
    and ended by ``now``."""
    from datetime import timedelta

    low = (start - timedelta(hours=lookback_hours)).timestamp()
    chosen = set()
    for row in rows:
        began = float(row["uniqueid"].split(".")[0])
        h, m, s = (int(x) for x in row["duration"].split(":"))
        if low <= began < end.timestamp() and (now is None or began + h * 3600 + m * 60 + s <= now):
            chosen.add(row["id"])
    return chosen


def lake_rows(data_dir, source: str, columns: list[str] | None = None) -> list[dict]:
    """Every row a source has in the lake (the zero-row schema file aside)."""
    import pyarrow.dataset as ds

    files = [p for p in (data_dir / "lake" / source).rglob("*.parquet") if p.name != "_schema.parquet"]
    return ds.dataset(files, format="parquet").to_table(columns=columns).to_pylist() if files else []
