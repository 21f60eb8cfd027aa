"""Every ``CDR_*`` setting, read from the environment in one typed place (pydantic-settings).

The modules ask ``settings()`` for a value instead of reading ``os.environ``: each setting has one name, one type,
one default and one description, and a value that is not of its type is refused with the setting's name the first
time it is read. An empty value counts as unset. The table in docs/configuration.md is generated from this class
(``python -m cdr.settings docs/configuration.md``) and a test keeps the two equal.

dbt reads a few of the same variables itself (``env_var`` in dbt_project.yml, profiles.yml and the macros:
CDR_DATA_DIR, CDR_LAKE_URL, CDR_SITE_TIMEZONE*, CDR_DUCKDB_MEMORY_LIMIT), with the same defaults.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

PREFIX = "CDR_"
# Settings named per source (``CDR_SITE_TIMEZONE_PBX``): not fields, since the sources are the registry's.
SITE_TIMEZONE_OF = "CDR_SITE_TIMEZONE_"


def _setting(default: Any, description: str, *, shown: str | None = None, group: str, **kwargs: Any) -> Any:
    """A field with its docs: ``shown`` is the default as the docs' table says it (None: the value itself)."""
    return Field(default, description=description, json_schema_extra={"group": group, "shown": shown}, **kwargs)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, env_ignore_empty=True, extra="ignore", frozen=True)

    # --- where it reads and writes
    data_dir: Path | None = _setting(
        None, "root of everything the pipeline writes", shown="`./data` under the project root", group="paths"
    )
    lake_url: str = _setting(
        "",
        "the raw lake: a local path or `s3://bucket/prefix` (credentials from the `aws` Connection "
        "`CDR_LAKE_CONN_ID`, or `AWS_*`); growing past one machine is in [docs/scale-out.md](scale-out.md)",
        shown="`lake/` under `CDR_DATA_DIR`",
        group="paths",
    )
    lake_conn_id: str = _setting(
        "aws_default", "the Airflow Connection (type `aws`) of a lake on object storage", group="paths"
    )
    lake_grace_seconds: float = _setting(
        3600.0,
        "how long the files of superseded versions and killed attempts stay on object storage (readers that "
        "listed them finish first)",
        group="paths",
        ge=0,
    )
    file_group: str = _setting(
        "",
        "group (name or gid) of everything under `CDR_DATA_DIR` and a local lake: files 0640, folders 0750 "
        "(setgid), nothing open to others; see [docs/analysts.md](analysts.md#who-gets-which-file)",
        shown="the process's group",
        group="paths",
    )
    masked_group: str = _setting(
        "",
        "group of what holds no number: `warehouse_masked.duckdb`, the masked report and `docs/`",
        shown="`CDR_FILE_GROUP`",
        group="paths",
    )
    # --- when the DAGs run
    pull_schedule: str = _setting("@hourly", "schedule of the pull DAGs; any Airflow cron or preset", group="schedules")
    pull_start_date: date = _setting(
        date(2000, 1, 1),
        "the first day the pull and reconciliation DAGs can be back-filled to (YYYY-MM-DD)",
        group="schedules",
    )
    reconcile_schedule: str = _setting(
        "@hourly",
        "schedule of `voicenter_reconcile` (each run waits 15 minutes after its interval ends); any Airflow cron "
        "or preset",
        group="schedules",
    )
    full_tests_schedule: str = _setting(
        "30 3 * * *",
        "when `cdr_warehouse` also runs once a day on its own, to test every row (UTC cron)",
        group="schedules",
    )
    site_timezone: str = _setting(
        "UTC",
        "the call centre's time zone (IANA): `local_date`, `local_hour`, `started_at_local` in the marts and the "
        "report's business day; `CDR_SITE_TIMEZONE_<SOURCE>` (e.g. `CDR_SITE_TIMEZONE_PBX`) for a source whose "
        "call centre is elsewhere. A changed zone makes the next build a full rebuild",
        group="schedules",
    )
    # --- the warehouse and the report
    warehouse_catalog: str = _setting(
        "",
        "a DuckLake catalog (`postgres:dbname=... host=...`) to publish to instead of `warehouse.duckdb`; see "
        "[docs/scale-out.md](scale-out.md)",
        shown="none: the file",
        group="warehouse",
    )
    warehouse_data_path: str = _setting(
        "", "where the DuckLake keeps its Parquet files", shown="`ducklake/` under `CDR_DATA_DIR`", group="warehouse"
    )
    warehouse_queue: str = _setting(
        "", "the Celery queue of the build task", shown="none: the default queue", group="warehouse"
    )
    voicenter_receiver_queues: str = _setting(
        "",
        "the receiver hosts' queues, comma-separated: one load task each",
        shown="none: one receiver",
        group="warehouse",
    )
    number_salt: SecretStr | None = _setting(
        None,
        "the secret the masked copy's hashes of numbers and ids are keyed with",
        shown="one made once in `build/number.salt`",
        group="warehouse",
    )
    report_mask_numbers: bool = _setting(
        False, "make the daily report from the masked copy (`1`, `true`, `yes`, `on`)", group="warehouse"
    )
    duckdb_memory_limit: str = _setting("2GB", "DuckDB's memory limit in dbt's builds", group="warehouse")
    warehouse_docs: bool = _setting(
        True,
        "generate and publish the model's documentation (`docs/`) after a build whose project changed; off "
        "(`0`, `false`) where nobody reads it, such as a test machine",
        group="warehouse",
    )
    # --- the Voicenter receiver (`cdr-receiver`)
    voicenter_token: SecretStr | None = _setting(
        None,
        "the token Voicenter must send; `cdr-receiver` refuses to start without one of at least 32 characters",
        shown="none",
        group="receiver",
    )
    receiver_host: str = _setting("127.0.0.1", "where `cdr-receiver` listens", group="receiver")
    receiver_port: int = _setting(8088, "the port `cdr-receiver` listens on", group="receiver", gt=0, lt=65536)
    receiver_request_timeout: float = _setting(
        5.0, "seconds a request may take, headers and body", group="receiver", gt=0
    )
    receiver_max_connections: int = _setting(
        256, "open connections for requests without the token; past it they get 503", group="receiver", gt=0
    )
    receiver_max_connections_per_client: int = _setting(
        64,
        "connections one address may hold before a request on them shows the token; 0: no cap",
        group="receiver",
        ge=0,
    )
    receiver_quarantine_max_per_day: int = _setting(
        10_000, "bad bodies a UTC day may put in quarantine; past it they get Err 2", group="receiver", gt=0
    )
    receiver_quarantine_mb_per_day: float = _setting(
        256.0, "megabytes of bad bodies a UTC day may put in quarantine", group="receiver", gt=0
    )
    receiver_log_interval: float = _setting(
        60.0, "seconds between two counted log lines (refused tokens, timeouts)", group="receiver", gt=0
    )

    def site_timezones(self) -> dict[str, str]:
        """``CDR_SITE_TIMEZONE`` and every ``CDR_SITE_TIMEZONE_<SOURCE>`` set, by variable."""
        zones = {f"{PREFIX}SITE_TIMEZONE": self.site_timezone}
        zones.update({k: v for k, v in os.environ.items() if k.startswith(SITE_TIMEZONE_OF) and v.strip()})
        return zones


class SettingsError(ValueError):
    pass


@functools.lru_cache(maxsize=16)
def _read(environment: tuple[tuple[str, str], ...]) -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        # named as the operator set them, not as the fields are
        raise SettingsError(
            "; ".join(f"{PREFIX}{str(e['loc'][0]).upper()}={e.get('input')!r}: {e['msg']}" for e in error.errors())
        ) from None


def settings() -> Settings:
    """The settings as the environment holds them now (tests and runs may change it): read again only when a
    ``CDR_*`` variable changed, since reading is about a millisecond."""
    return _read(tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(PREFIX))))


GROUPS = {
    "paths": "Where it reads and writes",
    "schedules": "When the DAGs run",
    "warehouse": "The warehouse and the report",
    "receiver": "The Voicenter receiver",
}
START, END = "<!-- settings: generated by `python -m cdr.settings docs/configuration.md` -->", "<!-- /settings -->"


def docs_table() -> str:
    """The settings as the docs' tables: one per group, each setting with its default and meaning."""
    out = []
    for group, title in GROUPS.items():
        out += [f"**{title}**", "", "| variable | default | meaning |", "|---|---|---|"]
        for name, field in Settings.model_fields.items():
            extra = field.json_schema_extra
            assert isinstance(extra, dict)
            if extra["group"] != group:
                continue
            default = field.default.isoformat() if isinstance(field.default, date) else field.default
            shown = extra["shown"] or f"`{default}`"
            out.append(f"| `{PREFIX}{name.upper()}` | {shown} | {field.description} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def with_table(text: str) -> str:
    """``text`` (docs/configuration.md) with the generated table between its markers."""
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise ValueError(f"no {START} ... {END} section")
    return pattern.sub(lambda _: f"{START}\n\n{docs_table()}\n{END}", text)


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.write_text(with_table(target.read_text()))
