"""Airflow hooks over the sources' Connections: they turn a Connection into a ready client, lazily."""

from __future__ import annotations

from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from airflow.providers.redis.hooks.redis import RedisHook
from airflow.sdk import BaseHook

from cdr.enigma.drain import DEFAULT_KEYS
from cdr.enigma.drain import DEFAULT_TIMEZONE as ENIGMA_TIMEZONE
from cdr.http import RetryPolicy
from cdr.kazoo.client import KazooClient
from cdr.own_numbers import configured
from cdr.pbx.client import DEFAULT_TIMEZONE, PbxClient
from cdr.pbx.extract import DEFAULT_LOOKBACK_HOURS
from cdr.voicenter.calllog import CALL_LOG_POLICY, DEFAULT_REQUESTS_PER_MINUTE, CallLogClient, endpoint_url


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


class SourceHook(BaseHook):
    """A source's Connection, read once and lazily; subclasses turn it into a client in ``get_conn``."""

    def __init__(self, conn_id: str | None = None, policy: RetryPolicy | None = None):
        super().__init__()
        setattr(self, self.conn_name_attr, conn_id or self.default_conn_name)
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

    @property
    def own_numbers(self) -> list[str]:
        """extra.own_numbers: the DIDs that are the call centre's own (a party calling from or to one is ours)."""
        return configured(self.extra)

    def require_extra(self, key: str) -> Any:
        if not self.extra.get(key):
            raise ValueError(f"connection {self.conn_id!r} needs extra.{key}")
        return self.extra[key]


class KazooHook(SourceHook):
    """KAZOO Crossbar API. host: base URL; password: the account's API key;
    extra: ``{"account_id": ..., "page_size": 500, "default_region": "US", "own_numbers": [...]}``."""

    conn_name_attr = "kazoo_conn_id"
    default_conn_name = "kazoo_default"
    conn_type = "http"
    hook_name = "KAZOO Crossbar"

    @property
    def default_region(self) -> str:
        return str(self.extra.get("default_region") or "US").upper()

    def get_conn(self) -> KazooClient:
        return KazooClient(
            base_url(self.connection),
            self.connection.password or "",
            str(self.require_extra("account_id")),
            page_size=int(self.extra.get("page_size") or 500),
            policy=self.policy,
        )


class PbxHook(SourceHook):
    """While1 Voice PBX ``/api/cdr``. host: base URL; password: the Bearer token; extra:
    ``{"api_key": ..., "timezone": "Europe/Bucharest", "lookback_hours": 4, "own_numbers": [...]}`` (all but
    api_key optional)."""

    conn_name_attr = "pbx_conn_id"
    default_conn_name = "pbx_default"
    conn_type = "http"
    hook_name = "While1 Voice PBX"

    @property
    def lookback_hours(self) -> float:
        return float(self.extra.get("lookback_hours", DEFAULT_LOOKBACK_HOURS))

    def get_conn(self) -> PbxClient:
        return PbxClient(
            base_url(self.connection), self.connection.password or "", str(self.require_extra("api_key")),
            timezone_name=str(self.extra.get("timezone") or DEFAULT_TIMEZONE), policy=self.policy,
        )


class VoicenterHook(SourceHook):
    """Voicenter's Call Log API, for reconciliation. host: base URL (``https://api.voicenter.com``); password:
    the organisation code; extra: ``{"fields": [...], "requests_per_minute": 30}`` (both optional)."""

    conn_name_attr = "voicenter_conn_id"
    default_conn_name = "voicenter_default"
    conn_type = "http"
    hook_name = "Voicenter Call Log"

    def __init__(self, conn_id: str | None = None, policy: RetryPolicy | None = None):
        super().__init__(conn_id, policy or CALL_LOG_POLICY)

    def get_conn(self) -> CallLogClient:
        if not self.connection.password:
            raise ValueError(f"connection {self.conn_id!r} needs password (the Voicenter organisation code)")
        fields = self.extra.get("fields")
        if fields is not None and (isinstance(fields, str) or not isinstance(fields, list)):
            raise ValueError(f"connection {self.conn_id!r}: extra.fields must be a list of field names")
        return CallLogClient(
            endpoint_url(base_url(self.connection)), self.connection.password, fields=fields,
            requests_per_minute=float(self.extra.get("requests_per_minute") or DEFAULT_REQUESTS_PER_MINUTE),
            policy=self.policy,
        )


class EnigmaHook(RedisHook):
    """The Enigma dialer's Redis (the provider's RedisHook). host, port, password; extra:
    ``{"db": 0, "keys": ["enigma:notifications:campaigns"], "timezone": "Africa/Johannesburg"}``."""

    default_conn_name = "enigma_default"
    hook_name = "Enigma dialer (Redis)"

    def __init__(self, redis_conn_id: str = default_conn_name, **kwargs):
        super().__init__(redis_conn_id=redis_conn_id, **kwargs)

    @cached_property
    def extra(self) -> dict[str, Any]:
        return self.get_connection(self.redis_conn_id).extra_dejson or {}

    @property
    def keys(self) -> list[str]:
        keys = self.extra.get("keys") or list(DEFAULT_KEYS)
        return [keys] if isinstance(keys, str) else [str(k) for k in keys]

    @property
    def timezone(self) -> str:
        return str(self.extra.get("timezone") or ENIGMA_TIMEZONE)
