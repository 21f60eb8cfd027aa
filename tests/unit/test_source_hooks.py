"""The four source hooks: light to import, offered by Airflow as connection types, read from any Connection type."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from cdr.sources.enigma.hook import EnigmaHook
from cdr.sources.kazoo.hook import KazooHook
from cdr.sources.pbx.hook import PbxHook
from cdr.sources.voicenter.hook import VoicenterHook

HOOKS = {"kazoo": KazooHook, "while1_pbx": PbxHook, "enigma_redis": EnigmaHook, "voicenter": VoicenterHook}
# The regions and zones the sources had before they were configurable (docs/contract.md: the PBX and Enigma time
# zone defaults).
DEFAULTS = {
    KazooHook: ("US", "UTC"),
    PbxHook: ("RO", "Europe/Bucharest"),
    EnigmaHook: ("ZA", "Africa/Johannesburg"),
    VoicenterHook: ("IL", "Asia/Jerusalem"),
}


def set_conn(monkeypatch, conn_id: str, conn_type: str, **fields):
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": conn_type, **fields}))


def test_hooks_import_nothing_heavy():
    code = (
        "import sys; import cdr.sources.kazoo.hook, cdr.sources.pbx.hook, cdr.sources.enigma.hook; "
        "import cdr.sources.voicenter.hook, cdr.airflow.provider; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('duckdb', 'pyarrow', 'dbt')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_provider_info_is_valid_and_names_the_installed_distribution():
    from importlib.metadata import entry_points

    import jsonschema
    from airflow import providers_manager

    from cdr.airflow.provider import PACKAGE_NAME, get_provider_info

    schema = json.loads((Path(providers_manager.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)
    points = [
        ep
        for ep in entry_points(group="apache_airflow_provider")
        if ep.value == "cdr.airflow.provider:get_provider_info"
    ]
    assert len(points) == 1 and points[0].dist.metadata["name"] == PACKAGE_NAME


def test_providers_manager_offers_the_sources_connection_types():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    with warnings.catch_warnings():  # the task SDK's runtime manager has the same hooks; the UI reads this one
        warnings.simplefilter("ignore")
        hooks = manager.hooks
    for conn_type, hook in HOOKS.items():
        info = hooks.get(conn_type)
        assert info is not None, f"{conn_type} is not offered"
        assert info.hook_class_name == f"{hook.__module__}.{hook.__name__}"
        assert info.connection_id_attribute_name == hook.conn_name_attr and info.connection_testable
        assert manager.field_behaviours[conn_type] == hook.get_ui_field_behaviour()
    assert "extra__kazoo__account_id" in manager.connection_form_widgets
    assert manager.connection_form_widgets["extra__while1_pbx__api_key"].is_sensitive
    assert hooks.get("http") is not None and hooks.get("redis") is not None  # the contract's types stay


@pytest.mark.parametrize("conn_type", list(HOOKS))
def test_the_form_relabels_the_secret_and_hides_what_the_source_does_not_use(conn_type):
    behaviour = HOOKS[conn_type].get_ui_field_behaviour()
    assert "login" in behaviour["hidden_fields"] and "schema" in behaviour["hidden_fields"]
    assert (
        behaviour["relabeling"]["password"]
        == {
            "kazoo": "API key",
            "while1_pbx": "Bearer token",
            "enigma_redis": "Redis password",
            "voicenter": "Organisation code",
        }[conn_type]
    )


def test_airflow_builds_each_hook_as_connection_get_hook_does(monkeypatch):
    set_conn(monkeypatch, "k_other", "kazoo", host="http://k.example", password="p", extra={"account_id": "a"})
    set_conn(monkeypatch, "p_other", "while1_pbx", host="http://p.example", password="t", extra={"api_key": "k"})
    set_conn(monkeypatch, "v_other", "voicenter", host="http://v.example", password="c")
    set_conn(monkeypatch, "e_other", "enigma_redis", host="127.0.0.1", port=1)
    assert KazooHook(kazoo_conn_id="k_other").get_conn().base_url == "http://k.example"
    assert PbxHook(pbx_conn_id="p_other").get_conn().url == "http://p.example/api/cdr"
    assert VoicenterHook(voicenter_conn_id="v_other").get_conn().endpoint == "http://v.example/hub/cdr/"
    assert EnigmaHook(redis_conn_id="e_other").keys == ["enigma:notifications:campaigns"]
    assert KazooHook("k_other").conn_id == "k_other" and KazooHook().conn_id == "kazoo_default"


@pytest.mark.parametrize(
    "hook, conn_id, conn_type, fields",
    [
        (KazooHook, "kazoo_default", "http", {"host": "http://k", "password": "p", "extra": {"account_id": "a"}}),
        (PbxHook, "pbx_default", "http", {"host": "http://p", "password": "t", "extra": {"api_key": "k"}}),
        (EnigmaHook, "enigma_default", "redis", {"host": "127.0.0.1", "port": 6379}),
        (VoicenterHook, "voicenter_default", "http", {"host": "http://v", "password": "c"}),
    ],
)
def test_region_and_timezone_default_to_the_registry_and_follow_the_connection(
    monkeypatch, hook, conn_id, conn_type, fields
):
    set_conn(monkeypatch, conn_id, conn_type, **fields)
    assert (hook().default_region, hook().timezone) == DEFAULTS[hook]
    extra = {**fields.get("extra", {}), "default_region": "gb", "timezone": "Europe/London"}
    set_conn(monkeypatch, conn_id, conn_type, **{**fields, "extra": extra})
    assert (hook().default_region, hook().timezone) == ("GB", "Europe/London")


def test_pbx_reads_the_contract_http_connection(monkeypatch):
    set_conn(
        monkeypatch,
        "pbx_default",
        "http",
        host="https://pbx.example.ro",
        password="bearer",
        extra={"api_key": "k", "lookback_hours": 2, "own_numbers": "0312285000"},
    )
    hook = PbxHook()
    client = hook.get_conn()
    assert client.url == "https://pbx.example.ro/api/cdr" and client.tz.key == "Europe/Bucharest"
    assert hook.lookback_hours == 2.0 and hook.own_numbers == ["0312285000"]
    assert "bearer" not in repr(client)


def test_enigma_keys_from_a_list_or_the_forms_text(monkeypatch):
    set_conn(monkeypatch, "enigma_default", "redis", host="h", extra={"keys": ["a:b", "c:d"]})
    assert EnigmaHook().keys == ["a:b", "c:d"]
    set_conn(monkeypatch, "enigma_default", "enigma_redis", host="h", extra={"keys": "a:b, c:d"})
    assert EnigmaHook().keys == ["a:b", "c:d"]


def test_a_failed_test_says_what_failed_and_never_raises(monkeypatch):
    set_conn(monkeypatch, "kazoo_default", "kazoo", host="http://127.0.0.1:9", password="p", extra={"account_id": "a"})
    ok, message = KazooHook().test_connection()
    assert not ok and "KAZOO" in message and "api_auth" in message and "connection failed" in message
