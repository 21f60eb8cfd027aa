"""The sources the lake holds, and the Parquet schema of each: what the warehouse build can read."""

from __future__ import annotations

import pyarrow as pa

from cdr.enigma.records import SCHEMA as ENIGMA_SCHEMA
from cdr.kazoo.records import SCHEMA as KAZOO_SCHEMA
from cdr.own_numbers import FOLDER as OWN_NUMBERS
from cdr.own_numbers import SCHEMA as OWN_NUMBERS_SCHEMA
from cdr.pbx.records import SCHEMA as PBX_SCHEMA
from cdr.voicenter.load import SCHEMA as VOICENTER_SCHEMA

LAKE_SCHEMAS: dict[str, pa.Schema] = {
    "kazoo": KAZOO_SCHEMA,
    "pbx": PBX_SCHEMA,
    "enigma": ENIGMA_SCHEMA,
    "voicenter": VOICENTER_SCHEMA,
}

# Everything the warehouse build reads from the lake: the sources, and the DIDs the pulls list as theirs.
LAKE_TABLES: dict[str, pa.Schema] = {**LAKE_SCHEMAS, OWN_NUMBERS: OWN_NUMBERS_SCHEMA}
