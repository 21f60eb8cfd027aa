"""The KAZOO Connection as an Airflow hook: host the base URL, password the account's API key, extra
``{"account_id": ..., "page_size": 500, "default_region": "US", "timezone": "UTC", "own_numbers": [...]}``."""

from __future__ import annotations

from datetime import timedelta

from cdr.sources.hook import SourceHook, base_url
from cdr.sources.http import utcnow
from cdr.sources.kazoo.client import KazooClient, window_params


class KazooHook(SourceHook):
    conn_name_attr = "kazoo_conn_id"
    default_conn_name = "kazoo_default"
    conn_type = "kazoo"
    hook_name = "KAZOO Crossbar"
    source_name = "kazoo"

    def get_conn(self) -> KazooClient:
        return KazooClient(
            base_url(self.connection),
            self.connection.password or "",
            str(self.require_extra("account_id")),
            page_size=int(self.extra.get("page_size") or 500),
            policy=self.policy,
        )

    def probe(self) -> str:
        """Authenticate with the API key, then read one CDR of the last hour: key and account both checked."""
        client = self.test_client()
        client.authenticate()
        end = utcnow()
        body = client.get(
            f"/v2/accounts/{client.account_id}/cdrs", {**window_params(end - timedelta(hours=1), end), "page_size": 1}
        )
        rows = body.get("data") if isinstance(body, dict) else None
        if not isinstance(rows, list):
            raise ValueError(f"the cdrs answer has no data list: {str(body)[:200]}")
        return (
            f"KAZOO at {client.base_url}: authenticated; account {client.account_id} answered a page of CDRs "
            f"({'some' if rows else 'none'} in the last hour)"
        )
