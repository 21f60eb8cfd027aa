"""docs/adding-a-source.md, followed for a stub sixth source: a registry entry, a lake schema and one Parquet file,
a staging folder and an intermediate model; no other file of the project changes, and its legs reach
marts.fct_cdr with the rest of the project built and tested as usual.

The project is copied to a temporary folder and the registry extended for the test's duration only, so the
checked-in project is never touched.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from cdr import registry
from cdr.config import DBT_PROJECT_DIR
from cdr.lake.writer import LakeWriter, ensure_schema_file, lake_schema, unit_for_interval
from cdr.registry import lake_tables

pytestmark = pytest.mark.e2e

# Step 2 of the guide: the stub's lake schema (its records' fields as sent, then the lineage, with the region).
STUB_SCHEMA = lake_schema(
    [
        pa.field("id", pa.string()),
        pa.field("caller", pa.string()),
        pa.field("callee", pa.string()),
        pa.field("started", pa.int64()),  # Unix seconds
        pa.field("seconds", pa.int64()),
        pa.field("outcome", pa.string()),
        pa.field("_default_region", pa.string()),
    ]
)

SOURCES_YML = """\
version: 2

sources:
  - name: stub
    description: The stub source's CDRs as its DAG wrote them into the lake.
    meta:
      external_location: >-
        read_parquet('{{ env_var("CDR_DATA_DIR", "../data") }}/lake/stub/**/*.parquet',
        union_by_name = true, hive_partitioning = false)
    tables:
      - name: cdrs
"""

STAGING_SQL = """\
with

source as (

    select * from {{ source('stub', 'cdrs') }}

),

renamed as (

    select
        id as stub_cdr_id,
        nullif(trim(caller), '') as caller,
        nullif(trim(callee), '') as callee,
        {{ bounded_epoch('started') }} as started_at,
        {{ bounded_seconds('seconds') }} as talk_seconds,
        outcome,
        upper(_default_region) as default_region,
        _interval_start as lake_interval_start,
        _extracted_at as extracted_at
    from source

)

select * from renamed
"""

INTERMEDIATE_SQL = """\
with

cdrs as (

    select * from {{ ref('stg_stub__cdrs') }}

),

final as (

    select
        'stub' as source,
        stub_cdr_id as source_cdr_id,
        stub_cdr_id as call_key,
        started_at,
        started_at + to_seconds(coalesce(talk_seconds, 0)) as ended_at,
        'inbound' as direction,
        'stub_default' as direction_basis,
        cast(null as varchar) as source_direction,
        caller as caller_number_as_sent,
        callee as callee_number_as_sent,
        coalesce(default_region, {{ source_default('stub', 'default_region') }}) as phone_region,
        case when outcome = 'OK' then 'answered' else 'other' end as status,
        case when outcome = 'OK' then 'outcome' else 'unmapped' end as status_basis,
        outcome as source_status,
        talk_seconds,
        extracted_at,
        lake_interval_start as read_order
    from cdrs

)

select * from final
"""


def dbt(project: Path, data: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "CDR_DATA_DIR": str(data),
        "DBT_TARGET_PATH": str(data / "build" / "target"),
        "DBT_LOG_PATH": str(data / "build" / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_USE_COLORS": "false",
    }
    return subprocess.run(
        [
            str(Path(sys.executable).with_name("dbt")),
            *args,
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_a_sixth_source_needs_only_its_own_files(tmp_path, monkeypatch):
    began = time.monotonic()
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    data = tmp_path / "data"

    # 1. The registry entry (here for the test's duration), and the dbt files written from it.
    stub = replace(
        registry.SOURCES["kazoo"],
        name="stub",
        label="Stub PBX",
        short_label="Stub",
        colour="#000000",
        schema_ref="tests.e2e.test_adding_a_source:STUB_SCHEMA",
        conn_id="stub_default",
        default_region="DE",
        default_timezone="Europe/Berlin",
        legs_overlap=False,
    )
    monkeypatch.setitem(registry.SOURCES, "stub", stub)
    registry.write_dbt_files(project)
    with open(project / "seeds" / "cdr_sources.csv", newline="") as fh:
        assert [r["source"] for r in csv.DictReader(fh)] == ["kazoo", "pbx", "enigma", "voicenter", "stub"]
    assert stub.lake_schema() is STUB_SCHEMA and stub.asset_uri == "cdr://lake/stub"

    # 2. Its lake: the other sources' empty schema files (as cdr.warehouse.build ensures), and one file of the stub's.
    for name, schema in lake_tables().items():
        ensure_schema_file(name, schema, data / "lake")
    start, end = datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC)
    lineage = {
        "_source": "stub",
        "_interval_start": start,
        "_interval_end": end,
        "_extracted_at": datetime(2026, 11, 21, 0, 5, tzinfo=UTC),
        "_batch": "b1",
    }
    with LakeWriter("stub", STUB_SCHEMA, unit_for_interval(start, end), lake_root=data / "lake") as writer:
        # national numbers: read in the region stamped on the row, else the registry's (DE)
        writer.write(
            {
                **lineage,
                "id": "s1",
                "caller": "030 12345678",
                "callee": "+49 89 7654321",
                "started": 1795172400,
                "seconds": 42,
                "outcome": "OK",
                "_raw": "{}",
                "_default_region": None,
            },
            start.date(),
        )
        writer.write(
            {
                **lineage,
                "id": "s2",
                "caller": "020 7946 0321",
                "callee": "+44 161 496 0000",
                "started": 1795176000,
                "seconds": 0,
                "outcome": "HUH",
                "_raw": "{}",
                "_default_region": "GB",
            },
            start.date(),
        )

    # 3. The staging folder and 4. the intermediate model; int_cdr__legs needs no edit.
    (project / "models" / "staging" / "stub").mkdir()
    (project / "models" / "staging" / "stub" / "_stub__sources.yml").write_text(SOURCES_YML)
    (project / "models" / "staging" / "stub" / "stg_stub__cdrs.sql").write_text(STAGING_SQL)
    (project / "models" / "intermediate" / "int_stub__legs.sql").write_text(INTERMEDIATE_SQL)

    changed = subprocess.run(
        ["diff", "-rq", str(DBT_PROJECT_DIR), str(project), "-x", "target", "-x", "logs"],
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    assert sorted(changed) == sorted(
        [
            f"Files {DBT_PROJECT_DIR}/dbt_project.yml and {project}/dbt_project.yml differ",
            f"Files {DBT_PROJECT_DIR}/seeds/cdr_sources.csv and {project}/seeds/cdr_sources.csv differ",
            f"Only in {project}/models/intermediate: int_stub__legs.sql",
            f"Only in {project}/models/staging: stub",
        ]
    ), changed

    # Every model, seed and data test; the other models' unit tests are the main build's business.
    built = dbt(project, data, "build", "--full-refresh", "--exclude", "test_type:unit")
    assert built.returncode == 0, built.stdout[-6000:]

    with duckdb.connect(str(data / "build" / "build.duckdb"), read_only=True) as con:
        legs = con.execute(
            "select source_cdr_id, call_key, caller_number, callee_number, status, talk_seconds, date_key::varchar "
            "from marts.fct_cdr where source = 'stub' order by all"
        ).fetchall()
        calls = con.execute(
            "select call_key, talk_seconds from marts.fct_call where source = 'stub' order by all"
        ).fetchall()
    assert legs == [
        ("s1", "s1", "+493012345678", "+49897654321", "answered", 42, "2026-11-20"),
        ("s2", "s2", "+442079460321", "+441614960000", "other", 0, "2026-11-20"),
    ]
    assert calls == [("s1", 42), ("s2", 0)]
    print(f"stub source built and checked in {time.monotonic() - began:.0f} s")
