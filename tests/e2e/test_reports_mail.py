"""One `airflow dags test cdr_reports` run writes the report and mails it to an SMTP server on loopback."""

from __future__ import annotations

import email
import json
import os
import shutil

import duckdb
import pytest

from launch import free_port
from tests.e2e.airflow_cli import airflow
from tests.e2e.report_oracle import DEMO_DAY, base, check_report  # noqa: F401 (base: a fixture)

pytestmark = pytest.mark.e2e


@pytest.fixture
def smtp_server():
    """A real SMTP server on loopback (aiosmtpd) that keeps what it receives."""
    from aiosmtpd.controller import Controller

    class Keep:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append(envelope)
            return "250 OK"

    handler = Keep()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, handler
    finally:
        controller.stop()


def test_dags_test_writes_and_mails_the_report(base, tmp_path, airflow_db, smtp_server):
    controller, received = smtp_server
    data = tmp_path / "data"
    data.mkdir()
    shutil.copyfile(base, data / "warehouse.duckdb")
    recipients = ["manager@example.com", "ops@example.com"]
    env = {
        **os.environ,
        "CDR_DATA_DIR": str(data),
        "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": controller.port,
                "extra": {
                    "from_email": "cdr-reports@example.com",
                    "disable_tls": True,
                    "disable_ssl": True,
                    "retry_limit": 0,
                    "timeout": 10,
                },
            }
        ),
        "AIRFLOW_VAR_CDR_REPORT_RECIPIENTS": json.dumps(recipients),
    }
    # The run at 2026-11-21 covers the day before: its data interval is 2026-11-20 (UTC).
    output = airflow(env, "dags", "test", "cdr_reports", "2026-11-21T00:00:00+00:00", log="reports-dags-test")
    directory = data / "reports" / "2026-11-20"
    assert (directory / "report.html").exists() and (directory / "headline.csv").exists()
    check_report(directory, data / "warehouse.duckdb", DEMO_DAY)
    assert "mailed the report for 2026-11-20" in output
    assert len(received.messages) == 1
    envelope = received.messages[0]
    assert envelope.rcpt_tos == recipients and envelope.mail_from == "cdr-reports@example.com"
    message = email.message_from_bytes(envelope.content)
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        incoming = con.execute(
            "select count(*) from marts.fct_call where date_key = ? and direction = 'inbound'", [DEMO_DAY]
        ).fetchone()[0]
    assert message["Subject"].startswith(f"Calls Fri 20 Nov 2026: {incoming} incoming")
    parts = {part.get_filename(): part for part in message.walk() if part.get_filename()}
    assert set(parts) == {"report.html", "callbacks.csv"}
    assert parts["report.html"].get_payload(decode=True) == (directory / "report.html").read_bytes()
    body = next(p for p in message.walk() if p.get_content_type() == "text/html").get_payload(decode=True).decode()
    assert "Incoming calls" in body and str(incoming) in body
