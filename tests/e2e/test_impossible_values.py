"""A record with a time or a length no call can have never fails a build: it becomes null, is counted as invalid
in marts.dq_unmapped, and the good records beside it are built as usual (issue 12, point 1, the model's side).

Each source's lake gets, through the source's own lake writer, one good record and one with impossible values,
as they would land if a source sent them. Voicenter's receiver acknowledges such a CDR and its loader writes it
like any other (issue 28: a CDR refused or quarantined is a call lost for good), so it too is counted, not lost.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import duckdb
import pytest

from cdr import config
from cdr.lake.writer import LakeWriter, unit_for_interval
from cdr.sources.enigma.drain import write_batch
from cdr.sources.kazoo.records import SCHEMA as KAZOO_SCHEMA
from cdr.sources.kazoo.records import to_lake_row as kazoo_row
from cdr.sources.pbx.records import SCHEMA as PBX_SCHEMA
from cdr.sources.pbx.records import to_lake_row as pbx_row
from cdr.sources.voicenter.load import load_staged
from cdr.warehouse.build import build_and_publish

pytestmark = pytest.mark.e2e
START, END = datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC)
GREGORIAN = 62_167_219_200
HUGE = 99_999_999_999_999
FAR = 5_000_000_000 + GREGORIAN  # the year 2128: a time Python holds, but no call's


def lineage(source: str) -> dict:
    return {
        "_source": source,
        "_interval_start": START,
        "_interval_end": END,
        "_extracted_at": datetime.now(UTC),
        "_batch": "p1",
    }


def kazoo_record(cdr_id: str, **fields) -> dict:
    return {
        "id": cdr_id,
        "call_id": cdr_id,
        "caller_id_number": "+442079460321",
        "callee_id_number": "1001",
        "direction": "outbound",
        "hangup_cause": "NORMAL_CLEARING",
        "duration_seconds": 30,
        "billing_seconds": 20,
        "timestamp": int(START.timestamp()) + 3600 + GREGORIAN,
        **fields,
    }


def pbx_record(cdr_id: str, **fields) -> dict:
    return {
        "id": cdr_id,
        "uniqueid": f"{int(START.timestamp()) + 7200}.{cdr_id}",
        "linkedid": cdr_id,
        "time": "2026-11-20 04:00:00",
        "time_end": "2026-11-20 04:01:00",
        "direction": "IN",
        "source": "0722123456",
        "destination": "0312285000",
        "call_status": "ANSWERED",
        "duration": "00:01:00",
        "bill_duration": "00:00:50",
        "ring_time": "00:00:10",
        "hold_time": "00:00:00",
        **fields,
    }


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    data = tmp_path_factory.mktemp("impossible") / "data"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CDR_DATA_DIR", str(data))
        unit = unit_for_interval(START, END)
        with LakeWriter("kazoo", KAZOO_SCHEMA, unit) as writer:
            for record in (
                kazoo_record("k-good"),
                kazoo_record("k-bad", duration_seconds=HUGE, billing_seconds=-5, timestamp=FAR),
            ):
                writer.write(*kazoo_row(record, {**lineage("kazoo"), "_default_region": "US"}))
        with LakeWriter("pbx", PBX_SCHEMA, unit) as writer:
            for record in (
                pbx_record("p-good"),
                pbx_record("p-bad", duration="99999999999:00:00", bill_duration="-1:00:00", ring_time="9999999:59:59"),
            ):
                writer.write(*pbx_row(record, {**lineage("pbx"), "_timezone": "Europe/Bucharest"}))
        good = {
            "type": "cdr",
            "payload": {
                "extension": "3001",
                "number": "0820001234",
                "call_ref": "e-good",
                "dialed_at": "2026-11-20T10:00:00+00:00",
                "end_reason": "ANSWERED",
                "call_time": 40,
                "call_dir": "outbound",
            },
        }
        bad = {
            "type": "cdr",
            "payload": {
                **good["payload"],
                "call_ref": "e-bad",
                "dialed_at": "99999999999999",
                "call_time": "99999999999999999999",
            },
        }
        write_batch(
            "enigma:notifications:campaigns", [json.dumps(m).encode() for m in (good, bad)], "Africa/Johannesburg"
        )
        landing = config.landing_dir() / "voicenter"
        landing.mkdir(parents=True)
        received = "2026-11-20T12:00:01+00:00"
        lines = [
            {
                "received_at": received,
                "format": "json",
                "cdr": {
                    "ivruniqueid": ivr,
                    "type": "Queue",
                    "status": "ANSWER",
                    "caller": "0501234567",
                    "did": "0722776772",
                    "time": time_,
                    "duration": duration,
                    "dialtime": 3,
                },
            }
            for ivr, time_, duration in (("v-good", 1795176000, 60), ("v-bad", 8_200_000_000, HUGE))
        ]
        (landing / "20261120T120000-test.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
        load_staged()
        build_and_publish()
        con = duckdb.connect(str(config.warehouse_path()), read_only=True)
        yield con
        con.close()


def test_every_record_reaches_the_warehouse_and_the_impossible_values_are_null(warehouse):
    rows = {
        r[0]: r[1:]
        for r in warehouse.execute(
            "select source_cdr_id, talk_seconds, ring_seconds, started_at from marts.fct_cdr"
        ).fetchall()
    }
    assert set(rows) == {"k-good", "k-bad", "p-good", "p-bad", "e-good", "e-bad", "v-good", "v-bad"}
    assert rows["k-good"][0] == 20 and rows["p-good"][0] == 50 and rows["e-good"][0] == 40 and rows["v-good"][0] == 60
    for bad in ("p-bad", "e-bad", "v-bad"):  # answered (their status says so), their talk time unknown
        assert rows[bad][0] is None, bad
    # KAZOO's only witness of an answer is its billable seconds: without possible ones, NORMAL_CLEARING is a leg
    # nobody answered, and a leg nobody answered talked for 0 s (issue 28)
    assert rows["k-bad"][0] == 0
    # a start no call can have falls back to the start of the interval it was pulled for (Voicenter: its receipt)
    assert rows["k-bad"][2] == START
    assert rows["v-bad"][2] == datetime(2026, 11, 20, 12, 0, 1, tzinfo=UTC)
    assert list((config.quarantine_dir() / "voicenter").rglob("*.bin")) == []


def test_the_impossible_values_are_counted_as_sent(warehouse):
    counted = {
        (s, f, v)
        for s, f, v in warehouse.execute(
            "select source, field, raw_value from marts.dq_unmapped where affects = 'invalid'"
        ).fetchall()
    }
    assert counted == {
        ("kazoo", "duration_seconds", str(HUGE)),
        ("kazoo", "billing_seconds", "-5"),
        ("kazoo", "timestamp", str(FAR)),
        ("pbx", "duration", "99999999999:00:00"),
        ("pbx", "bill_duration", "-1:00:00"),
        ("pbx", "ring_time", "9999999:59:59"),
        ("enigma", "call_time", "99999999999999999999"),
        ("enigma", "dialed_at", "99999999999999"),
        ("voicenter", "duration", str(HUGE)),
        ("voicenter", "time", "8200000000"),
    }
