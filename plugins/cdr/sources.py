"""The sources the lake holds, and the Parquet schema of each: what the warehouse build can read."""

from __future__ import annotations

import pyarrow as pa

from cdr import registry
from cdr.own_numbers import FOLDER as OWN_NUMBERS
from cdr.own_numbers import SCHEMA as OWN_NUMBERS_SCHEMA

LAKE_SCHEMAS: dict[str, pa.Schema] = registry.lake_schemas()

# Everything the warehouse build reads from the lake: the sources, and the DIDs the pulls list as theirs.
LAKE_TABLES: dict[str, pa.Schema] = {**LAKE_SCHEMAS, OWN_NUMBERS: OWN_NUMBERS_SCHEMA}
