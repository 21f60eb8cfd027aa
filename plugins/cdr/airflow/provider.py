"""The project as an Airflow provider: the connection types its source hooks bring, for the Connection form.

Airflow 3 finds connection types only through providers: the ``apache_airflow_provider`` entry point in
pyproject.toml names ``get_provider_info``, which ProvidersManager reads without importing any hook (plugins
cannot add connection types). The form's field behaviour (hidden and relabelled fields) and its extra fields are
declared here, as Airflow 3.2+ wants them, and the hooks' ``get_ui_field_behaviour()`` read the same dicts, so
there is one statement of each form. This module imports nothing at all beyond the standard library.

Each hook reads a Connection by id whatever its type, so the contract's ``http`` and ``redis`` Connections keep
working; these types only add the named forms and the Test button's source-specific check.
"""

from __future__ import annotations

from typing import Any

PACKAGE_NAME = "cdr-warehouse"  # the distribution's name in pyproject.toml; ProvidersManager insists they match


def _text(label: str, description: str, *, secret: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": ["string", "null"]}
    if secret:
        schema["format"] = "password"
    return {"label": label, "description": description, "schema": schema}


def _number(label: str, description: str, kind: str = "integer") -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": [kind, "null"]}}


def _region(default: str) -> dict[str, Any]:
    return _text(
        "Default phone region", f"ISO 3166 region for numbers written without a country code (default {default})"
    )


def _timezone(default: str) -> dict[str, Any]:
    return _text("Time zone", f"IANA zone of the source's wall-clock times (default {default})")


_OWN_NUMBERS = _text("Own numbers", "The call centre's DIDs, separated by commas or spaces (optional)")

# connection type -> (hook class, display name, ui-field-behaviour, conn-fields)
CONNECTION_TYPES: dict[str, dict[str, Any]] = {
    "kazoo": {
        "hook-class-name": "cdr.sources.kazoo.hook.KazooHook",
        "hook-name": "KAZOO Crossbar",
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "login"],
            "relabeling": {"host": "Base URL", "password": "API key"},
            "placeholders": {"host": "http://kazoo.example:8000"},
        },
        "conn-fields": {
            "account_id": _text("Account id", "The KAZOO account whose CDRs are pulled"),
            "page_size": _number("Page size", "CDRs per page (default 500)"),
            "default_region": _region("US"),
            "timezone": _timezone("UTC"),
            "own_numbers": _OWN_NUMBERS,
        },
    },
    "while1_pbx": {
        "hook-class-name": "cdr.sources.pbx.hook.PbxHook",
        "hook-name": "While1 Voice PBX",
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "login"],
            "relabeling": {"host": "Base URL", "password": "Bearer token"},
            "placeholders": {"host": "https://pbx.example.ro"},
        },
        "conn-fields": {
            "api_key": _text("API key", "The key api_hash signs each request with", secret=True),
            "timezone": _timezone("Europe/Bucharest"),
            "default_region": _region("RO"),
            "lookback_hours": _number(
                "Look-back hours", "Hours before each interval read again for late CDRs (default 4)", "number"
            ),
            "own_numbers": _OWN_NUMBERS,
        },
    },
    "enigma_redis": {
        "hook-class-name": "cdr.sources.enigma.hook.EnigmaHook",
        "hook-name": "Enigma dialer (Redis)",
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "login"],
            "relabeling": {"host": "Redis host", "port": "Redis port", "password": "Redis password"},
            "placeholders": {"host": "localhost", "port": "6379"},
        },
        "conn-fields": {
            "db": _number("Redis database", "The database number (default 0)"),
            "keys": _text(
                "List keys", "The LISTs to drain, separated by commas (default enigma:notifications:campaigns)"
            ),
            "timezone": _timezone("Africa/Johannesburg"),
            "default_region": _region("ZA"),
        },
    },
    "voicenter": {
        "hook-class-name": "cdr.sources.voicenter.hook.VoicenterHook",
        "hook-name": "Voicenter Call Log",
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "login"],
            "relabeling": {"host": "Call Log API base URL", "password": "Organisation code"},
            "placeholders": {"host": "https://api.voicenter.com"},
        },
        "conn-fields": {
            "requests_per_minute": _number("Requests per minute", "The API's rate limit (default 30)", "number"),
            "timezone": _timezone("Asia/Jerusalem"),
            "default_region": _region("IL"),
        },
    },
}


def field_behaviour(conn_type: str) -> dict[str, Any]:
    """The form's behaviour for ``conn_type`` in the shape ``get_ui_field_behaviour()`` returns."""
    declared = CONNECTION_TYPES[conn_type]["ui-field-behaviour"]
    return {
        "hidden_fields": list(declared["hidden-fields"]),
        "relabeling": dict(declared["relabeling"]),
        "placeholders": dict(declared["placeholders"]),
    }


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": PACKAGE_NAME,
        "name": "CDR warehouse",
        "description": "Connection types of the CDR warehouse's sources (KAZOO, While1 PBX, Enigma, Voicenter).",
        "versions": ["0.1.0"],
        "connection-types": [{"connection-type": conn_type, **info} for conn_type, info in CONNECTION_TYPES.items()],
    }
