"""The sources the lake holds, and the Parquet schema of each: what the warehouse build can read."""

from __future__ import annotations

import pyarrow as pa

from cdr.kazoo.records import SCHEMA as KAZOO_SCHEMA

LAKE_SCHEMAS: dict[str, pa.Schema] = {
    "kazoo": KAZOO_SCHEMA,
}
