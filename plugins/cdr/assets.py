"""Airflow Assets: each source's part of the lake. A pull that lands data updates its asset, and the
warehouse DAG is scheduled on any of them. The daily report reads the warehouse and updates REPORTS."""

from __future__ import annotations

from airflow.sdk import Asset

KAZOO_LAKE = Asset(name="cdr_lake_kazoo", uri="cdr://lake/kazoo", group="cdr_lake")
PBX_LAKE = Asset(name="cdr_lake_pbx", uri="cdr://lake/pbx", group="cdr_lake")
ENIGMA_LAKE = Asset(name="cdr_lake_enigma", uri="cdr://lake/enigma", group="cdr_lake")
VOICENTER_LAKE = Asset(name="cdr_lake_voicenter", uri="cdr://lake/voicenter", group="cdr_lake")
WAREHOUSE = Asset(name="cdr_warehouse", uri="cdr://warehouse", group="cdr_warehouse")
REPORTS = Asset(name="cdr_reports", uri="cdr://reports", group="cdr_reports")

LAKE_ASSETS = [KAZOO_LAKE, PBX_LAKE, ENIGMA_LAKE, VOICENTER_LAKE]
