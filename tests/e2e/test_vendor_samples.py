"""The vendors' own published examples, end to end: every one through the real receiver or simulator, the DAGs
(real Airflow CLI) and the warehouse (dbt), each reaching marts.fct_cdr once with the answers its document gives.

The expected answers are written here from the vendors' words (quoted beside each), not from the model:
  * KAZOO crossbar `cdrs.md` (2015): device-to-device legs (`Internal Device 0` to `Internal Device 2`, `from` a
    user or device of the account's realm, an extension or a device dialled), every number a string, `owner_id`
    `""`, quotes inside `iso_8601`/`rfc_1036`, NORMAL_CLEARING with billing seconds: answered internal legs, no
    remote party. Pulled for their own day, 2015-06-26: history of any age.
  * Voicenter's CDR notification examples: the outgoing call ("a user made an outgoing call from extension
    (SIPSIP) ... called 0501234567 ... answered ... rang 2 seconds, the duration of the conversation was 11
    seconds"), posted in both published versions and once more carrying the `aiData` block; the incoming queue
    call ("an incoming call was made from 0501234567 ... rang in a queue service ... The caller waited in the queue
    for 20 seconds and decided to hang-up the call (ABANDONE)"), in both versions, as JSON, form and XML-RPC.
    `time` is Israel's wall-clock time written as epoch seconds.
  * Voicenter's Call Log example, recovered by voicenter_reconcile: an "Extension Outgoing" call from
    0722776772 to 972501234567, `DialStatus` ANSWER, `Duration` 2, `RingTime` 10, `Date` 2024-06-10T09:04:58Z.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import duckdb
import pytest
from post_voicenter import post

from launch import start, start_receiver
from tests.e2e.airflow_cli import airflow
from tests.vendor_samples import REALM, kazoo_rows, voicenter_call_log_records, voicenter_webhook_bodies

pytestmark = pytest.mark.e2e
TOKEN = "vendor-samples-token-0123456789abcdefghij"

# (direction, status, talk_seconds, ring_seconds, queue_wait_seconds, remote_number, remote_country_code,
#  started_at): from the documents' words above.
KAZOO_EXPECTED = {
    # list rows: "Internal Device 0" -> "Internal Device 2" (extension 1002), then the device's own leg
    "2015-06-26 12:28:35": ("internal", "answered", 7, 1, None, None, None),
    "2015-06-26 12:28:39": ("internal", "answered", 3, 1, None, None, None),
    # the grouped call's A-leg (a device of the realm dials 1003) and B-leg (to device_ZYcHDwktNB)
    "2015-06-26 12:26:47": ("internal", "answered", 1, 7, None, None, None),
    "2015-06-26 12:26:48": ("internal", "answered", 1, 6, None, None, None),
}
VOICENTER_EXPECTED = {
    "2020072818dcDHFJcc804": (
        "outbound",
        "answered",
        11,
        2,
        None,
        "+972501234567",
        "IL",
        datetime(2020, 7, 28, 15, 19, 10, tzinfo=UTC),  # 18:19:10 in Israel (summer, UTC+3)
    ),
    "202007211213270124c": (
        "inbound",
        "abandoned",
        0,
        None,  # no dialtime in either published version
        20,
        "+972501234567",
        "IL",
        datetime(2020, 7, 21, 9, 13, 30, tzinfo=UTC),  # 3 s after its id's 12:13:27 in Israel
    ),
    "202406101204550233243ghff3189e5c": (
        "outbound",
        "answered",
        2,
        10,
        None,
        "+972501234567",
        "IL",
        datetime(2024, 6, 10, 9, 4, 58, tzinfo=UTC),
    ),
}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory, airflow_db):
    root = tmp_path_factory.mktemp("samples")
    data = root / "data"
    kazoo_file = root / "kazoo_rows.json"
    kazoo_file.write_text(json.dumps(kazoo_rows()))
    log_file = root / "call_log.json"
    log_file.write_text(json.dumps(voicenter_call_log_records()))

    answers = {}
    with start_receiver(str(data), TOKEN) as receiver:
        for name, body in voicenter_webhook_bodies().items():
            formats = ("json", "form", "xmlrpc") if "queue" in name else ("json",)
            for fmt in formats:
                response = post(receiver.url, TOKEN, body, fmt)
                answers[(name, fmt)] = (response.status_code, response.text)

    with (
        start("kazoo_sim.py", "--data", str(kazoo_file), "--account-id", "acc") as kazoo,
        start("voicenter_calllog_sim.py", "--data", str(log_file)) as calllog,
    ):
        env = {
            **os.environ,
            "CDR_DATA_DIR": str(data),
            "CDR_PULL_SCHEDULE": "@daily",
            "CDR_RECONCILE_SCHEDULE": "@daily",
            "AIRFLOW_CONN_KAZOO_DEFAULT": json.dumps(
                {
                    "conn_type": "http",
                    "host": kazoo.url,
                    "password": "demo-kazoo-api-key",
                    "extra": {"account_id": "acc", "page_size": 2, "default_region": "US"},
                }
            ),
            "AIRFLOW_CONN_VOICENTER_DEFAULT": json.dumps(
                {"conn_type": "http", "host": calllog.url, "password": "demo-voicenter-code", "extra": {}}
            ),
        }
        # each pulled for its own day, years back
        airflow(env, "dags", "test", "kazoo_cdrs", "2015-06-27T00:00:00+00:00", log="samples-kazoo")
        airflow(env, "dags", "test", "voicenter_cdrs", "2026-11-21T00:00:00+00:00", log="samples-voicenter")
        airflow(env, "dags", "test", "voicenter_reconcile", "2024-06-11T00:00:00+00:00", log="samples-calllog")
        airflow(env, "dags", "test", "cdr_warehouse", "2026-11-21T00:00:00+00:00", log="samples-build")
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    yield answers, con, data
    con.close()


def test_every_published_cdr_is_acknowledged(warehouse):
    answers, _, _ = warehouse
    assert answers and all(status == 200 for status, _ in answers.values()), answers
    assert all('"Err": 0' in text or "Err=0" in text or "<int>0</int>" in text for _, text in answers.values())


def test_the_ai_block_is_kept_as_sent(warehouse):
    _, _, data = warehouse
    lake = duckdb.sql(
        f"select _raw from read_parquet('{data}/lake/voicenter/**/*.parquet', union_by_name = true) "
        "where _raw like '%aiData%'"
    ).fetchall()
    assert lake
    sent = voicenter_webhook_bodies()["cdr_notification_outgoing_v_b2a4031_with_aiData"]["aiData"]
    assert json.loads(lake[0][0])["aiData"] == sent


def test_kazoo_examples_reach_the_warehouse_once_read_as_kazoo_means_them(warehouse):
    _, con, _ = warehouse
    rows = con.execute(
        "select strftime(started_at at time zone 'UTC', '%Y-%m-%d %H:%M:%S'), direction, status, talk_seconds, "
        "ring_seconds, queue_wait_seconds, remote_number, remote_country_code, started_at_estimated "
        "from marts.fct_cdr where source = 'kazoo'"
    ).fetchall()
    assert len(rows) == len(kazoo_rows()) == len(KAZOO_EXPECTED)
    assert {row[0]: row[1:8] for row in rows} == KAZOO_EXPECTED
    assert not any(row[8] for row in rows)
    ids = [r[0] for r in con.execute("select source_cdr_id from marts.fct_cdr where source = 'kazoo'").fetchall()]
    assert all(i.startswith("201506-") for i in ids) and len(set(ids)) == len(ids)
    # the realm as filled in: only the addresses, never a party
    assert REALM not in str(con.execute("select * from marts.fct_cdr where source = 'kazoo'").fetchall())


def test_voicenter_examples_reach_the_warehouse_once_with_their_documents_answers(warehouse):
    _, con, _ = warehouse
    rows = con.execute(
        "select source_cdr_id, direction, status, talk_seconds, ring_seconds, queue_wait_seconds, remote_number, "
        "remote_country_code, started_at from marts.fct_cdr where source = 'voicenter'"
    ).fetchall()
    assert sorted(r[0] for r in rows) == sorted(VOICENTER_EXPECTED)
    assert {r[0]: tuple(r[1:]) for r in rows} == VOICENTER_EXPECTED
    queue = con.execute(
        "select queue_name, ivr_path from marts.fct_cdr where source_cdr_id = '202007211213270124c'"
    ).fetchone()
    assert queue[0] == "Sales Queue"
    assert [(layer["layer_name"], layer["Dtmf"]) for layer in json.loads(queue[1])] == [
        ("Main IVR", 2),
        ("Sales Department", 0),
    ]


def test_no_unanswered_leg_has_talk_time(warehouse):
    _, con, _ = warehouse
    assert (
        con.execute("select count(*) from marts.fct_cdr where talk_seconds > 0 and status != 'answered'").fetchone()[0]
        == 0
    )
