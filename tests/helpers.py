"""Shared by the tests: what the demo data says should arrive, and small HTTP helpers."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import requests

from cdr.sources.kazoo.client import to_gregorian


def kazoo_ids_created_in(rows: list[dict], start: datetime, end: datetime) -> set[str]:
    """Ids of the rows whose creation time (start + duration, as the simulator and Crossbar define it) is in
    [start, end)."""
    low, high = to_gregorian(start), to_gregorian(end)
    return {r["id"] for r in rows if low <= int(r["timestamp"]) + int(r.get("duration_seconds") or 0) < high}


def voicenter_instant(cdr: dict, zone: str = "Asia/Jerusalem") -> datetime:
    """The true UTC start of a Voicenter webhook CDR: its ``time`` is the account's wall-clock time written as
    epoch seconds (the vendor's examples). Worked out here with zoneinfo alone, not with cdr.sources.voicenter.times."""
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


# copied from ../shared/source-docs/samples/ (see its README.md): a clone must not need anything beside it
VOICENTER_SAMPLES = __import__("pathlib").Path(__file__).resolve().parent / "fixtures" / "vendor_samples"


def voicenter_sample(name: str) -> dict:
    """One of Voicenter's own published example bodies (tests/fixtures/vendor_samples/voicenter/), as sent."""
    import json

    return json.loads((VOICENTER_SAMPLES / "voicenter" / name).read_text())


def two_hour_ai_cdr(ivruniqueid: str = "VC-two-hours") -> dict:
    """A CDR of a two-hour call with its ``aiData`` block, shaped as Voicenter's example
    (cdr_notification_aiData_v_b2a4031.json): 160 words a minute, 8 words a sentence (2,400 sentences), Hebrew
    words of 2 to 8 letters, each sentence with its transcript entry and its emotions entry, and a summary of
    400 words. cdr.sources.voicenter.bounds sizes the body limit from it."""
    import random

    letters = "אבגדהוזחטיכלמנסעפצקרשת"
    pick = random.Random(20260707)

    def words(n: int) -> str:
        return " ".join("".join(pick.choice(letters) for _ in range(pick.randint(2, 8))) for _ in range(n))

    minutes, per_minute, per_sentence = 120, 160, 8
    sentences = minutes * per_minute // per_sentence
    length = 60 / (per_minute / per_sentence)
    transcript, emotions = [], []
    for n in range(sentences):
        start = n * length
        transcript.append(
            {
                "speaker": f"Speaker{n % 2}",
                "text": words(per_sentence),
                "startTime": round(start, 2),
                "endTime": round(start + length, 2),
                "sentence_id": n,
            }
        )
        emotions.append(
            {
                "sentence_id": n,
                "emotion": "frustrated",
                "emotion_direction": -1,
                "confidence_emotion": 0.92,
                "intensity_emotion": 0.85,
                "personality_trait": "impatient",
                "confidence_trait": 0.9,
            }
        )
    call = voicenter_sample("cdr_notification_incoming_queue_v_216ed4e.json")
    return {
        **call,
        "ivruniqueid": ivruniqueid,
        "duration": minutes * 60,
        "aiData": {
            "insights": {
                "questions": [{"key": "category", "question": "Categorize the call...", "answer": "technical issue"}],
                "participants": {"caller": {"name": None, "personality_traits": []}},
                "summary": words(400),
            },
            "emotions": {"sentences": emotions},
            "transcript": transcript,
        },
    }
