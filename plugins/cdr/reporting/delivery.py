"""Mailing the report: through the Airflow Connection ``smtp_default`` (the SMTP provider's SmtpHook) to the
addresses in the Airflow Variable ``cdr_report_recipients``; without that Connection the report is only written.

The Variable holds a JSON list (``["ops@example.com", "lead@example.com"]``) or addresses separated by commas,
semicolons or spaces. The mail's body is the headline and the alerts in plain inline-styled HTML (mail clients
drop stylesheets and SVG); the whole report.html and the call-back list are attached.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import date
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SMTP_CONN_ID = "smtp_default"
RECIPIENTS_VARIABLE = "cdr_report_recipients"
ATTACHED_CSVS = ("callbacks.csv",)
_ADDRESS = re.compile(r"[^@\s,;<>\"']+@[^@\s,;<>\"']+\.[^@\s,;<>\"']+")


class DeliveryError(ValueError):
    """The mail settings are wrong in a way a person must fix (the run fails with this message)."""


def parse_recipients(raw: str | None) -> list[str]:
    """The Variable's addresses, in order, each once. Empty or unset: none."""
    text = (raw or "").strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            values = json.loads(text)
        except ValueError as exc:
            raise DeliveryError(
                f"Variable {RECIPIENTS_VARIABLE} starts with '[' but is not a JSON list: {exc}"
            ) from None
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise DeliveryError(f"Variable {RECIPIENTS_VARIABLE} must be a JSON list of strings")
    else:
        values = re.split(r"[,;\s]+", text)
    addresses = list(dict.fromkeys(v.strip() for v in values if v.strip()))
    wrong = [a for a in addresses if not _ADDRESS.fullmatch(a)]
    if wrong:
        raise DeliveryError(f"Variable {RECIPIENTS_VARIABLE}: not mail addresses: {', '.join(wrong)}")
    return addresses


def smtp_connection():
    """The ``smtp_default`` Connection, or None when it is not defined (UI, environment or secrets backend)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(SMTP_CONN_ID)
    except AirflowNotFoundException:
        return None


def subject(summary: dict[str, Any]) -> str:
    day = date.fromisoformat(summary["day"])
    kpis = {k["kpi"]: k["value"] for k in summary["headline"]}
    ratio = kpis.get("incoming_answer_ratio_pct")
    parts = [
        f"{kpis.get('incoming_calls') or 0:,} incoming",
        "no answer ratio" if ratio is None else f"{ratio:.1f} % answered",
        f"{kpis.get('callbacks_due') or 0} call-back(s) due",
    ]
    alerts = len(summary["alerts"])
    return f"Calls {day:%a %-d %b %Y}: " + ", ".join(parts) + (f" [{alerts} alert(s)]" if alerts else "")


def deliver(summary: dict[str, Any]) -> dict[str, Any]:
    """Mail the report whose summary ``build.write_report`` returned, when mail is configured."""
    connection = smtp_connection()
    if connection is None:
        log.info(
            "no Airflow Connection %r: the report for %s is written to %s and not mailed",
            SMTP_CONN_ID,
            summary["day"],
            summary["html"],
        )
        return {"mailed": False, "reason": f"no connection {SMTP_CONN_ID}"}
    from airflow.sdk import Variable

    recipients = parse_recipients(Variable.get(RECIPIENTS_VARIABLE, default=None))
    if not recipients:
        log.warning(
            "Connection %r is set but Variable %r names nobody: the report for %s is not mailed",
            SMTP_CONN_ID,
            RECIPIENTS_VARIABLE,
            summary["day"],
        )
        return {"mailed": False, "reason": f"Variable {RECIPIENTS_VARIABLE} is empty"}
    if not (connection.extra_dejson or {}).get("from_email"):
        raise DeliveryError(f"Connection {SMTP_CONN_ID} needs extra.from_email, the address the report is sent from")

    from airflow.providers.smtp.hooks.smtp import SmtpHook

    from cdr.reporting import render

    directory = Path(summary["directory"])
    attachments = [summary["html"], *(str(directory / name) for name in ATTACHED_CSVS if (directory / name).exists())]
    body = render.email_html(
        day=date.fromisoformat(summary["day"]),
        headline=summary["headline"],
        alerts=summary["alerts"],
        directory=directory,
        html_name=Path(summary["html"]).name,
    )
    with SmtpHook(smtp_conn_id=SMTP_CONN_ID) as hook:
        hook.send_email_smtp(to=recipients, subject=subject(summary), html_content=body, files=attachments)
    # The addresses are the Variable's business: the log names how many, and the server, never credentials.
    log.info(
        "mailed the report for %s (%d attachment(s)) to %d recipient(s) through %s at %s:%s",
        summary["day"],
        len(attachments),
        len(recipients),
        SMTP_CONN_ID,
        connection.host,
        connection.port,
    )
    return {"mailed": True, "recipients": len(recipients), "attachments": [Path(a).name for a in attachments]}
