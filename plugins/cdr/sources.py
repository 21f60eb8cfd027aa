"""The sources the lake holds, and the Parquet schema of each: what the warehouse build can read."""

from __future__ import annotations

import pyarrow as pa

from cdr.enigma.records import SCHEMA as ENIGMA_SCHEMA
from cdr.kazoo.records import SCHEMA as KAZOO_SCHEMA
from cdr.pbx.records import SCHEMA as PBX_SCHEMA
from cdr.voicenter.load import SCHEMA as VOICENTER_SCHEMA

LAKE_SCHEMAS: dict[str, pa.Schema] = {
    "kazoo": KAZOO_SCHEMA,
    "pbx": PBX_SCHEMA,
    "enigma": ENIGMA_SCHEMA,
    "voicenter": VOICENTER_SCHEMA,
}
