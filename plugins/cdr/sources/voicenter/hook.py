"""The Voicenter Call Log Connection as an Airflow hook, for reconciliation: host the base URL
(``https://api.voicenter.com``), password the organisation code, extra ``{"fields": [...],
"requests_per_minute": 30, "timezone": "Asia/Jerusalem", "default_region": "IL"}`` (all optional)."""

from __future__ import annotations

from datetime import timedelta

from cdr.sources.hook import SourceHook, base_url
from cdr.sources.http import RetryPolicy, utcnow
from cdr.sources.voicenter.calllog import CALL_LOG_POLICY, DEFAULT_REQUESTS_PER_MINUTE, CallLogClient, endpoint_url


class VoicenterHook(SourceHook):
    conn_name_attr = "voicenter_conn_id"
    default_conn_name = "voicenter_default"
    conn_type = "voicenter"
    hook_name = "Voicenter Call Log"
    source_name = "voicenter"

    def __init__(self, conn_id: str | None = None, policy: RetryPolicy | None = None, **kwargs):
        super().__init__(conn_id, policy or CALL_LOG_POLICY, **kwargs)

    def get_conn(self) -> CallLogClient:
        if not self.connection.password:
            raise ValueError(f"connection {self.conn_id!r} needs password (the Voicenter organisation code)")
        fields = self.extra.get("fields")
        if fields is not None and (isinstance(fields, str) or not isinstance(fields, list)):
            raise ValueError(f"connection {self.conn_id!r}: extra.fields must be a list of field names")
        return CallLogClient(
            endpoint_url(base_url(self.connection)),
            self.connection.password,
            fields=fields,
            requests_per_minute=float(self.extra.get("requests_per_minute") or DEFAULT_REQUESTS_PER_MINUTE),
            policy=self.policy,
        )

    def probe(self) -> str:
        """One query of the last minute: the organisation code (and this machine's IP) both checked."""
        client = self.test_client()
        end = utcnow().replace(microsecond=0)
        answer = client.query(end - timedelta(minutes=1), end)
        return (
            f"Voicenter Call Log at {client.endpoint}: the organisation code was accepted "
            f"({len(answer.records)} CDRs in the last minute)"
        )
