"""The Connection form's Test button, as the UI presses it: ``POST /api/v2/connections/test`` on a real
api-server, against the simulators and a real Redis; good credentials pass, bad ones fail saying why."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
import requests

from launch import free_port, start, start_redis

pytestmark = [pytest.mark.integration, pytest.mark.airflow]

AIRFLOW = str(Path(sys.executable).with_name("airflow"))


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """An api-server in its own AIRFLOW_HOME (SQLite), connection testing on, everyone an admin."""
    home = tmp_path_factory.mktemp("airflow-api")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
    }
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    port = free_port()
    log = open(home / "api-server.log", "w")  # noqa: SIM115 (the server writes to it until it is stopped)
    server = subprocess.Popen(
        [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if requests.get(f"{url}/api/v2/monitor/health", timeout=10).ok:
                    break
            # a server still starting on a loaded machine may accept and then answer late
            except (requests.ConnectionError, requests.Timeout):
                pass
            assert server.poll() is None and time.monotonic() < deadline, (home / "api-server.log").read_text()[-3000:]
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def press_test(api: str, conn_type: str, **fields) -> tuple[bool, str]:
    if isinstance(fields.get("extra"), dict):
        fields["extra"] = json.dumps(fields["extra"])
    response = requests.post(
        f"{api}/api/v2/connections/test",
        json={"connection_id": f"try_{conn_type}", "conn_type": conn_type, **fields},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return body["status"], body["message"]


def test_the_form_offers_the_sources_by_name(api):
    response = requests.get(f"{api}/ui/connections/hook_meta", timeout=30)
    assert response.status_code == 200, response.text
    meta = {hook["connection_type"]: hook for hook in response.json()}
    assert {"kazoo", "while1_pbx", "enigma_redis", "voicenter"} <= set(meta)
    kazoo = meta["kazoo"]
    assert kazoo["hook_name"] == "KAZOO Crossbar"
    assert kazoo["standard_fields"]["password"]["title"] == "API key"
    assert kazoo["standard_fields"]["login"]["hidden"] is True
    assert "account_id" in kazoo["extra_fields"] and "page_size" in kazoo["extra_fields"]
    assert meta["while1_pbx"]["standard_fields"]["password"]["title"] == "Bearer token"


def test_kazoo_good_and_bad_credentials(api):
    with start("kazoo_sim.py") as sim:
        ok, message = press_test(
            api, "kazoo", host=sim.url, password="demo-kazoo-api-key", extra={"account_id": "demo-account"}
        )
        assert ok, message
        assert "authenticated" in message and "demo-account" in message
        ok, message = press_test(api, "kazoo", host=sim.url, password="wrong-key", extra={"account_id": "demo-account"})
        assert not ok and "api_auth" in message and "HTTP 401" in message and "invalid credentials" in message
        assert "wrong-key" not in message
        ok, message = press_test(
            api, "kazoo", host=sim.url, password="demo-kazoo-api-key", extra={"account_id": "someone-else"}
        )
        assert not ok and "HTTP 403" in message
        ok, message = press_test(api, "kazoo", host=sim.url, password="demo-kazoo-api-key")
        assert not ok and "extra.account_id" in message


def test_pbx_good_and_bad_credentials(api):
    with start("pbx_sim.py") as sim:
        ok, message = press_test(
            api, "while1_pbx", host=sim.url, password="demo-pbx-token", extra={"api_key": "demo-pbx-api-key"}
        )
        assert ok, message
        assert "signed page was accepted" in message and "Europe/Bucharest" in message
        ok, message = press_test(
            api, "while1_pbx", host=sim.url, password="wrong-token", extra={"api_key": "demo-pbx-api-key"}
        )
        assert not ok and "HTTP 401" in message and "invalid or missing token" in message
        ok, message = press_test(
            api, "while1_pbx", host=sim.url, password="demo-pbx-token", extra={"api_key": "wrong-key"}
        )
        assert not ok and "Invalid api_hash" in message


def test_enigma_pings_and_counts_the_lists(api):
    with start_redis() as server:
        client = redis.Redis(port=server.port)
        client.lpush("enigma:notifications:campaigns", b"{}", b"{}", b"{}")
        ok, message = press_test(
            api,
            "enigma_redis",
            host="127.0.0.1",
            port=server.port,
            extra={"keys": "enigma:notifications:campaigns, enigma:notifications:cdr"},
        )
        assert ok, message
        assert "PING" in message
        assert "enigma:notifications:campaigns: 3" in message and "enigma:notifications:cdr: 0" in message
        client.config_set("requirepass", "sekrit-redis-password")
        ok, message = press_test(api, "enigma_redis", host="127.0.0.1", port=server.port, password="not-it")
        assert not ok and ("WRONGPASS" in message or "invalid" in message.lower()), message
        ok, message = press_test(
            api, "enigma_redis", host="127.0.0.1", port=server.port, password="sekrit-redis-password"
        )
        assert ok, message


def test_voicenter_good_and_bad_code(api):
    with start("voicenter_calllog_sim.py") as sim:
        ok, message = press_test(api, "voicenter", host=sim.url, password="demo-voicenter-code")
        assert ok, message
        assert "organisation code was accepted" in message
        ok, message = press_test(api, "voicenter", host=sim.url, password="wrong-code")
        assert not ok and "ERROR_NUMBER 2" in message and "organisation code" in message
