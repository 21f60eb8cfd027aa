from __future__ import annotations

import json

import pytest

from cdr.sources.kazoo.hook import KazooHook


def set_conn(monkeypatch, **fields):
    monkeypatch.setenv("AIRFLOW_CONN_KAZOO_DEFAULT", json.dumps({"conn_type": "http", **fields}))


def test_kazoo_hook_builds_the_client_from_the_connection(monkeypatch):
    set_conn(
        monkeypatch,
        host="http://kazoo.example:8000/",
        password="k3y",
        extra={"account_id": "acc1", "page_size": 250, "default_region": "gb"},
    )
    hook = KazooHook()
    client = hook.get_conn()
    assert (client.base_url, client.account_id, client.page_size) == ("http://kazoo.example:8000", "acc1", 250)
    assert hook.default_region == "GB"
    assert "k3y" not in repr(client)


def test_kazoo_hook_defaults_and_split_host_fields(monkeypatch):
    set_conn(monkeypatch, host="kazoo.example", schema="http", port=8000, password="k", extra={"account_id": "a"})
    hook = KazooHook()
    client = hook.get_conn()
    assert client.base_url == "http://kazoo.example:8000" and client.page_size == 500
    assert hook.default_region == "US"


def test_kazoo_hook_names_what_is_missing(monkeypatch):
    set_conn(monkeypatch, host="http://kazoo.example", password="k", extra={})
    with pytest.raises(ValueError, match="extra.account_id"):
        KazooHook().get_conn()


def test_hook_has_the_provider_shape():
    assert KazooHook.conn_name_attr == "kazoo_conn_id" and KazooHook.default_conn_name == "kazoo_default"
    assert KazooHook.conn_type == "kazoo"  # its own form; Connections of type http keep working


@pytest.mark.parametrize(
    "value, numbers",
    [
        (["+18005550100", " 8005550111 "], ["+18005550100", "8005550111"]),
        ("+18005550100, 8005550111;0312285000", ["+18005550100", "8005550111", "0312285000"]),
        (None, []),
    ],
)
def test_own_numbers_come_from_the_connection_as_a_list_or_a_string(monkeypatch, value, numbers):
    set_conn(monkeypatch, host="http://kazoo.example", password="k", extra={"account_id": "a", "own_numbers": value})
    assert KazooHook().own_numbers == numbers


def test_own_numbers_of_another_type_are_refused(monkeypatch):
    set_conn(monkeypatch, host="http://kazoo.example", password="k", extra={"account_id": "a", "own_numbers": 5})
    with pytest.raises(ValueError, match="own_numbers must be a list"):
        _ = KazooHook().own_numbers
