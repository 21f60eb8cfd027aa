"""The sources' hooks, by their old address. Each lives in its source's package (cdr.kazoo.hook, cdr.pbx.hook,
cdr.enigma.hook, cdr.voicenter.hook); this module only re-exports them, importing one when it is asked for."""

from __future__ import annotations

import importlib

_HOMES = {
    "KazooHook": "cdr.kazoo.hook",
    "PbxHook": "cdr.pbx.hook",
    "EnigmaHook": "cdr.enigma.hook",
    "VoicenterHook": "cdr.voicenter.hook",
    "SourceHook": "cdr.sourcehook",
    "base_url": "cdr.sourcehook",
}
__all__ = list(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
