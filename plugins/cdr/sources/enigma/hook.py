"""The Enigma dialer's Redis Connection as an Airflow hook (the Redis provider's RedisHook, which builds the
client): host, port, password; extra ``{"db": 0, "keys": ["enigma:notifications:campaigns"],
"timezone": "Africa/Johannesburg", "default_region": "ZA"}`` (all optional, those defaults)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.providers.redis.hooks.redis import RedisHook

from cdr.sources.enigma import DEFAULT_KEYS
from cdr.sources.hook import SourceMixin


class EnigmaHook(SourceMixin, RedisHook):
    default_conn_name = "enigma_default"
    conn_type = "enigma_redis"
    hook_name = "Enigma dialer (Redis)"
    source_name = "enigma"

    def __init__(self, redis_conn_id: str = default_conn_name, **kwargs):
        super().__init__(redis_conn_id=redis_conn_id, **kwargs)

    @cached_property
    def extra(self) -> dict[str, Any]:
        return self.get_connection(self.redis_conn_id).extra_dejson or {}

    @property
    def keys(self) -> list[str]:
        """extra.keys: a JSON list, or (as the form's text field gives it) names separated by commas."""
        keys = self.extra.get("keys") or list(DEFAULT_KEYS)
        if isinstance(keys, str):
            keys = keys.replace(",", " ").split()
        return [str(k) for k in keys]

    def probe(self) -> str:
        """PING, then the length of each configured list: the password, the database and the keys checked."""
        client = self.get_conn()
        client.ping()
        lengths = ", ".join(f"{key}: {client.llen(key)}" for key in self.keys)
        return f"Enigma Redis at {self.host}:{self.port} db {self.db or 0}: PING answered; list lengths {lengths}"
