"""Payloads shaped the way real deployments send them, through the real DAGs, compared leg by leg.

Each source gets a generated corpus (tests/e2e/corpus.py) covering every leg shape and every vocabulary the
vendors use, in any case and with any separator, and words no one knows. The simulators serve it (KAZOO, PBX),
Redis holds it (Enigma), the receiver takes it (Voicenter); `airflow dags test` runs each source's DAG, then
cdr_warehouse and cdr_reports. The expected direction, status and remote country of each leg come from the
corpus's own rule tables, never from the model.
"""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import duckdb
import pytest
import redis
from post_voicenter import post_all

from launch import start, start_receiver, start_redis
from tests.e2e import corpus as corpora
from tests.e2e.airflow_cli import airflow

# Six `airflow dags test` runs build the corpus: on a loaded machine that outlasts the suite's 15-minute default.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]
RUN = "2026-11-21T00:00:00+00:00"  # with a daily schedule: the day 2026-11-20
TOKEN = "corpus-token-0123456789abcdef0123456789"
SOURCE_STATUS_FIELD = {"kazoo": "hangup_cause", "pbx": "call_status", "voicenter": "status"}


@pytest.fixture(scope="module")
def built(tmp_path_factory, airflow_db):
    root = tmp_path_factory.mktemp("corpus")
    data = root / "data"
    sets = {
        "kazoo": corpora.kazoo_corpus(),
        "pbx": corpora.pbx_corpus(),
        "enigma": corpora.enigma_corpus(),
        "voicenter": corpora.voicenter_corpus(),
    }
    (root / "kazoo.json").write_text(json.dumps(sets["kazoo"].records))
    (root / "pbx.json").write_text(json.dumps(sets["pbx"].records))
    logs = {}
    with (
        start("kazoo_sim.py", "--data", str(root / "kazoo.json"), "--numbers", corpora.KAZOO_DID) as kazoo,
        start("pbx_sim.py", "--data", str(root / "pbx.json")) as pbx,
        start_redis() as server,
    ):
        client = redis.Redis(port=server.port)
        for key, message in sets["enigma"].records:  # oldest first, as the dialer LPUSHes
            client.lpush(key, message)
        env = {
            **os.environ,
            "CDR_DATA_DIR": str(data),
            "CDR_PULL_SCHEDULE": "@daily",
            "AIRFLOW_CONN_KAZOO_DEFAULT": json.dumps(
                {
                    "conn_type": "http",
                    "host": kazoo.url,
                    "password": "demo-kazoo-api-key",
                    "extra": {"account_id": "demo-account", "page_size": 50, "default_region": "US"},
                }
            ),
            "AIRFLOW_CONN_PBX_DEFAULT": json.dumps(
                {
                    "conn_type": "http",
                    "host": pbx.url,
                    "password": "demo-pbx-token",
                    "extra": {"api_key": "demo-pbx-api-key", "own_numbers": [corpora.PBX_DID]},
                }
            ),
            "AIRFLOW_CONN_ENIGMA_DEFAULT": json.dumps(
                {
                    "conn_type": "redis",
                    "host": "127.0.0.1",
                    "port": server.port,
                    "extra": {"keys": ["enigma:notifications:campaigns"]},
                }
            ),
        }
        with start_receiver(str(data), TOKEN) as receiver:
            post_all(receiver.url, TOKEN, sets["voicenter"].records)
        for dag in ("kazoo_cdrs", "pbx_cdrs", "enigma_cdrs", "voicenter_cdrs", "cdr_warehouse", "cdr_reports"):
            logs[dag] = airflow(env, "dags", "test", dag, RUN, log=f"corpus-{dag}")
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    yield con, sets, logs, data
    con.close()


@pytest.mark.parametrize("source", ["kazoo", "pbx", "enigma", "voicenter"])
def test_every_leg_gets_the_direction_status_and_remote_country_of_its_shape(built, source):
    con, sets, _, _ = built
    actual = {
        row[0]: tuple(row[1:])
        for row in con.execute(
            "select source_cdr_id, direction, status, remote_country_code from marts.fct_cdr where source = ?", [source]
        ).fetchall()
    }
    expected = sets[source].expected
    assert set(actual) == set(expected), (
        f"legs missing: {set(expected) - set(actual)}; extra: {set(actual) - set(expected)}"
    )
    wrong = {key: (actual[key], want) for key, want in expected.items() if actual[key] != want}
    assert not wrong, f"{len(wrong)} of {len(expected)} {source} legs wrong (actual, expected): {wrong}"


def test_source_status_is_published_byte_for_byte(built):
    con, sets, _, _ = built
    published = dict(con.execute("select source || ':' || source_cdr_id, source_status from marts.fct_cdr").fetchall())
    sent = {}
    for source, field in SOURCE_STATUS_FIELD.items():
        key_field = "ivruniqueid" if source == "voicenter" else "id"
        sent.update({f"{source}:{r[key_field]}": r[field] for r in sets[source].records})
    for _, message in sets["enigma"].records:
        payload = json.loads(message)["payload"]
        sent[f"enigma:{payload['call_ref']}"] = payload["end_reason"]
    assert {key: published[key] for key in sent} == sent


def test_every_unknown_word_is_counted_in_the_data_quality_table(built):
    con, sets, _, _ = built
    counted = {
        (s, f, v): n
        for s, f, v, n in con.execute(
            "select source, field, raw_value, sum(legs)::int from marts.dq_unmapped "
            "where affects in ('status', 'direction') group by all"
        ).fetchall()
    }
    expected = {}
    for corpus in sets.values():
        expected.update(corpus.unknown)
    assert counted == expected


def test_unknown_words_warn_in_the_build_log(built):
    _, sets, logs, _ = built
    log = logs["cdr_warehouse"]
    warned = re.search(r"WARN (\d+) dq_unmapped_no_unknown_words", log)
    assert warned and int(warned.group(1)) >= len({(s, f, v) for c in sets.values() for (s, f, v) in c.unknown})
    # but no source's share of `other` or `unknown` is high enough to fail the build, which published
    assert re.search(r"PASS fct_cdr_other_status_share_error", log)
    assert re.search(r"PASS fct_cdr_unknown_direction_share_error", log)


def test_a_share_of_other_past_the_error_threshold_fails_the_build(built, monkeypatch):
    """The same warehouse judged with a threshold its share of `other` passes: the data test errors, naming it."""
    from cdr.warehouse.dbt_runner import run_dbt

    _, _, _, data = built
    monkeypatch.setenv("CDR_DATA_DIR", str(data))
    strict = json.dumps({"dq_error_share": 0.001, "dq_min_legs": 1})
    assert run_dbt("test", "--select", "fct_cdr_other_status_share_error", "--vars", strict, check=False) != 0
    assert run_dbt("test", "--select", "fct_cdr_other_status_share_error", check=False) == 0


def test_the_daily_report_lists_the_unknown_words(built):
    _, sets, _, data = built
    report = data / "reports" / "2026-11-20"
    with open(report / "unmapped.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    listed: dict[tuple[str, str, str], int] = {}
    for r in rows:  # one row per value and what its legs became
        if r["affects"] in ("status", "direction"):
            key = (r["source"], r["field"], r["raw_value"])
            listed[key] = listed.get(key, 0) + int(r["legs"])
    expected = {}
    for corpus in sets.values():
        expected.update(corpus.unknown)
    assert listed == expected
    html = (report / "report.html").read_text()
    for _, _, value in expected:
        assert value.replace("&", "&amp;") in html


def test_every_status_vocabulary_word_of_the_issue_is_in_the_corpus():
    """The corpus is the test's oracle: it must cover every word issue 11 names, so that none goes unchecked."""
    enigma = {
        json.loads(m)["payload"]["end_reason"].upper().replace("_", " ").replace("-", " ")
        for _, m in corpora.enigma_corpus().records
    }
    for word in [
        "ANSWER",
        "NOANSWER",
        "BUSY",
        "CANCEL",
        "CONGESTION",
        "CHANUNAVAIL",
        "DONTCALL",
        "TORTURE",
        "INVALIDARGS",
        "ANSWERED",
        "NO ANSWER",
        "FAILED",
    ]:
        assert word in enigma
    codes = {json.loads(m)["payload"]["end_code"] for _, m in corpora.enigma_corpus().records}
    assert {"200", "486", "600", "408", "480", "487", "404", "484", "503", "603"} <= codes
    assert Path(__file__).with_name("corpus.py").exists()
