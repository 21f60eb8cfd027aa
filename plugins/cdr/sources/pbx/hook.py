"""The While1 PBX Connection as an Airflow hook: host the base URL, password the Bearer token, extra
``{"api_key": ..., "timezone": "Europe/Bucharest", "default_region": "RO", "lookback_hours": 4,
"own_numbers": [...]}`` (all but api_key optional)."""

from __future__ import annotations

from datetime import timedelta

from cdr.sources.hook import SourceHook, base_url
from cdr.sources.http import utcnow
from cdr.sources.pbx import DEFAULT_LOOKBACK_HOURS
from cdr.sources.pbx.client import PbxClient, local_range


class PbxHook(SourceHook):
    conn_name_attr = "pbx_conn_id"
    default_conn_name = "pbx_default"
    conn_type = "while1_pbx"
    hook_name = "While1 Voice PBX"
    source_name = "pbx"

    @property
    def lookback_hours(self) -> float:
        return float(self.extra.get("lookback_hours", DEFAULT_LOOKBACK_HOURS))

    def get_conn(self) -> PbxClient:
        return PbxClient(
            base_url(self.connection),
            self.connection.password or "",
            str(self.require_extra("api_key")),
            timezone_name=self.timezone,
            policy=self.policy,
        )

    def probe(self) -> str:
        """One signed page of /api/cdr for the last hour: the token and the signing key both checked."""
        client = self.test_client()
        end = utcnow()
        envelope = client.request_page({"date_between": local_range(end - timedelta(hours=1), end, client.tz)}, 1)
        return (
            f"While1 PBX at {client.url}: a signed page was accepted ({len(envelope['results'])} CDRs of the "
            f"last hour on its first page; times read in {client.tz.key})"
        )
