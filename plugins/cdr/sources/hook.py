"""What every source's hook shares: its Connection read once and lazily, its region and time zone, the Test button.

Hooks import nothing heavy (no duckdb, no pyarrow): the API server imports them to test a Connection and the
DAG processor to parse a DAG file. Each source's client module is light; what a pull writes with (the lake,
the records modules) is imported by the task that pulls.

A hook reads its Connection by id whatever the Connection's type: the contract's ``http``/``redis`` Connections
and the named types of cdr.airflow.provider both work.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from airflow.sdk import BaseHook

from cdr.airflow.provider import field_behaviour
from cdr.registry import SOURCES
from cdr.sources.http import RetryPolicy

# The Test button waits for an answer, not for a pull's patience: one retry, short timeouts.
TEST_POLICY = RetryPolicy(attempts=2, backoff=0.5, max_wait=2.0, timeout=(5.0, 20.0))


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


class SourceMixin:
    """Connection extras every source reads; ``source_name`` names its entry in cdr.registry."""

    source_name: str
    conn_type: str

    @property
    def extra(self) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def default_region(self) -> str:
        """extra.default_region: the region of numbers written without a country code."""
        return str(self.extra.get("default_region") or SOURCES[self.source_name].default_region).upper()

    @property
    def timezone(self) -> str:
        """extra.timezone: the IANA zone of the source's wall-clock times."""
        return str(self.extra.get("timezone") or SOURCES[self.source_name].default_timezone)

    @property
    def own_numbers(self) -> list[str]:
        """extra.own_numbers: the DIDs that are the call centre's own (a party calling from or to one is ours)."""
        from cdr.lake.own_numbers import configured  # its module writes Parquet, so pyarrow: only when asked

        return configured(self.extra)

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return field_behaviour(cls.conn_type)

    def test_connection(self) -> tuple[bool, str]:
        """The Connection form's Test button: (whether the credentials work, what was seen or what failed)."""
        try:
            return True, self.probe()
        except Exception as exc:  # the form shows the message; any failure is an answer here
            return False, f"{type(exc).__name__}: {exc}"

    def probe(self) -> str:
        """One cheap request that needs working credentials; returns what it saw."""
        raise NotImplementedError


class SourceHook(SourceMixin, BaseHook):
    """An HTTP source's Connection; subclasses turn it into a client in ``get_conn``.

    Airflow builds a hook as ``Hook(**{conn_name_attr: conn_id})`` (Connection.get_hook, the Test button), the
    DAGs as ``Hook()`` or ``Hook(conn_id)``: both work.
    """

    # each source's hook sets them, as Airflow's own hooks do (BaseHook declares neither)
    conn_name_attr: str
    default_conn_name: str

    def __init__(self, conn_id: str | None = None, policy: RetryPolicy | None = None, **kwargs: Any):
        conn_id = kwargs.pop(self.conn_name_attr, None) or conn_id or self.default_conn_name
        super().__init__(**kwargs)
        setattr(self, self.conn_name_attr, conn_id)
        self.policy = policy or RetryPolicy()

    @property
    def conn_id(self) -> str:
        return getattr(self, self.conn_name_attr)

    @cached_property
    def connection(self):
        return self.get_connection(self.conn_id)

    @property
    def extra(self) -> dict[str, Any]:
        return self.connection.extra_dejson or {}

    def require_extra(self, key: str) -> Any:
        if not self.extra.get(key):
            raise ValueError(f"connection {self.conn_id!r} needs extra.{key}")
        return self.extra[key]

    def test_client(self):
        """The client with the Test button's short retry policy."""
        saved, self.policy = self.policy, TEST_POLICY
        try:
            return self.get_conn()
        finally:
            self.policy = saved
