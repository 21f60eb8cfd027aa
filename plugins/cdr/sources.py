"""The sources the lake holds, and the Parquet schema of each: what the warehouse build can read."""

from __future__ import annotations

import pyarrow as pa

from cdr import registry
from cdr.own_numbers import FOLDER as OWN_NUMBERS
from cdr.own_numbers import SCHEMA as OWN_NUMBERS_SCHEMA
from cdr.voicenter.records import WITNESS_FOLDER, WITNESS_SCHEMA

LAKE_SCHEMAS: dict[str, pa.Schema] = registry.lake_schemas()

# Everything the warehouse build reads from the lake: the sources, the DIDs the pulls list as theirs, and the
# Call Log's times of the CDRs the Voicenter webhook delivered.
LAKE_TABLES: dict[str, pa.Schema] = {
    **LAKE_SCHEMAS,
    OWN_NUMBERS: OWN_NUMBERS_SCHEMA,
    WITNESS_FOLDER: WITNESS_SCHEMA,
}
