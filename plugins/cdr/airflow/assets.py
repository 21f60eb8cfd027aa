"""Airflow Assets: each source's part of the lake (named by cdr.registry). A pull that lands data updates its
asset, and the warehouse DAG is scheduled on any of them. The daily report reads the warehouse and updates
REPORTS."""

from __future__ import annotations

from airflow.sdk import Asset

from cdr.registry import SOURCES


def lake_asset(source: str) -> Asset:
    entry = SOURCES[source]
    return Asset(name=entry.asset_name, uri=entry.asset_uri, group="cdr_lake")


LAKE_ASSETS = [lake_asset(name) for name in SOURCES]
WAREHOUSE = Asset(name="cdr_warehouse", uri="cdr://warehouse", group="cdr_warehouse")
REPORTS = Asset(name="cdr_reports", uri="cdr://reports", group="cdr_reports")
