"""How one Voicenter account's CDRs are read: its numbers' region, its clock's zone and how ``time`` is written.

Set on the optional Connection ``voicenter_default`` (extra ``default_region``, ``timezone``, ``time_basis``;
the webhook itself has no Connection), else the registry's defaults (IL, Asia/Jerusalem) and ``local``
(cdr.sources.voicenter.times). The loader and the reconciliation stamp them on each row they write, so a changed setting
affects the CDRs loaded from then on.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

from cdr.registry import region_for, source, timezone_for
from cdr.sources.voicenter.records import SOURCE
from cdr.sources.voicenter.times import BASIS_LOCAL, time_basis


@dataclass(frozen=True)
class AccountSettings:
    """Stamped on each lake row as ``_default_region``, ``_timezone``, ``_time_basis``."""

    default_region: str = source(SOURCE).default_region
    timezone: str = source(SOURCE).default_timezone
    time_basis: str = BASIS_LOCAL

    @classmethod
    def from_extra(cls, extra: dict | None) -> AccountSettings:
        return cls(region_for(SOURCE, extra), timezone_for(SOURCE, extra), time_basis(extra))


def configured_settings() -> AccountSettings:
    """The optional ``voicenter_default`` Connection's extra (``default_region``, ``timezone``, ``time_basis``)
    where that Connection exists (the webhook itself has none), else the registry's defaults."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        extra = BaseHook.get_connection("voicenter_default").extra_dejson
    except AirflowNotFoundException:
        extra = {}
    return AccountSettings.from_extra(extra)


@lru_cache(maxsize=16)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)
