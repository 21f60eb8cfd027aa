from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from cdr.sources.voicenter.calllog import CALL_LOG_POLICY, DEFAULT_FIELDS
from cdr.sources.voicenter.hook import VoicenterHook


def set_conn(monkeypatch, **fields):
    monkeypatch.setenv("AIRFLOW_CONN_VOICENTER_DEFAULT", json.dumps({"conn_type": "http", **fields}))


def test_voicenter_hook_builds_the_call_log_client(monkeypatch):
    set_conn(
        monkeypatch,
        host="https://api.voicenter.com/",
        password="org-code-1",
        extra={"fields": ["Date", "DialStatus"], "requests_per_minute": 12},
    )
    client = VoicenterHook().get_conn()
    assert client.endpoint == "https://api.voicenter.com/hub/cdr/"
    assert client.fields == ("Date", "DialStatus", "CallID")  # CallID is needed to reconcile
    assert client._session.bucket.rate == pytest.approx(12 / 60)
    assert client.policy == CALL_LOG_POLICY
    assert "org-code-1" not in repr(client)
    body = client.body(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 20, 1, tzinfo=UTC))
    assert body["code"] == "org-code-1" and body["search"] == {
        "fromdate": "2026-11-20T00:00:00",
        "todate": "2026-11-20T01:00:00",
    }


def test_voicenter_hook_defaults(monkeypatch):
    set_conn(monkeypatch, host="http://127.0.0.1:8002/hub/cdr", password="c")
    client = VoicenterHook().get_conn()
    assert client.endpoint == "http://127.0.0.1:8002/hub/cdr/" and client.fields == DEFAULT_FIELDS
    assert client._session.bucket.rate == pytest.approx(30 / 60)


def test_voicenter_hook_names_what_is_missing(monkeypatch):
    set_conn(monkeypatch, host="https://api.voicenter.com")
    with pytest.raises(ValueError, match="needs password .the Voicenter organisation code."):
        VoicenterHook().get_conn()
    set_conn(monkeypatch, host="https://api.voicenter.com", password="c", extra={"fields": "Date"})
    with pytest.raises(ValueError, match="extra.fields must be a list"):
        VoicenterHook().get_conn()


def test_hook_has_the_provider_shape():
    assert VoicenterHook.conn_name_attr == "voicenter_conn_id"
    assert VoicenterHook.default_conn_name == "voicenter_default" and VoicenterHook.conn_type == "voicenter"
