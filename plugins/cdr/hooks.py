"""Airflow hooks over the sources' Connections: they turn a Connection into a ready client, lazily."""

from __future__ import annotations

from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from airflow.sdk import BaseHook

from cdr.http import RetryPolicy
from cdr.kazoo.client import KazooClient


def base_url(conn) -> str:
    """The Connection's base URL: ``host`` holds it whole (scheme and port), or scheme/host/port apart."""
    host = (conn.host or "").strip().rstrip("/")
    if not host:
        raise ValueError(f"connection {conn.conn_id!r} has no host (the source's base URL)")
    if "://" not in host:
        host = f"{conn.schema or 'https'}://{host}"
    if conn.port and urlsplit(host).port is None:
        host = f"{host}:{conn.port}"
    return host


class KazooHook(BaseHook):
    """KAZOO Crossbar API. host: base URL; password: the account's API key;
    extra: ``{"account_id": ..., "page_size": 500, "default_region": "US"}``."""

    conn_name_attr = "kazoo_conn_id"
    default_conn_name = "kazoo_default"
    conn_type = "http"
    hook_name = "KAZOO Crossbar"

    def __init__(self, kazoo_conn_id: str = default_conn_name, policy: RetryPolicy | None = None):
        super().__init__()
        self.kazoo_conn_id = kazoo_conn_id
        self.policy = policy or RetryPolicy()

    @cached_property
    def connection(self):
        return self.get_connection(self.kazoo_conn_id)

    @property
    def extra(self) -> dict[str, Any]:
        return self.connection.extra_dejson or {}

    @property
    def default_region(self) -> str:
        return str(self.extra.get("default_region") or "US").upper()

    def get_conn(self) -> KazooClient:
        conn = self.connection
        if not self.extra.get("account_id"):
            raise ValueError(f"connection {self.kazoo_conn_id!r} needs extra.account_id")
        return KazooClient(
            base_url(conn),
            conn.password or "",
            str(self.extra["account_id"]),
            page_size=int(self.extra.get("page_size") or 500),
            policy=self.policy,
        )
