"""dbt-duckdb plugin: registers the phone-number functions in every dbt connection.

Models call ``cdr_e164(number, region)``, ``cdr_country(number, region)`` and ``cdr_is_number(number, region)``;
the code is cdr.phones.
They are Arrow (vectorised) functions: DuckDB hands over a whole vector per call, not one row.
With the lake on object storage it also registers the filesystem the staging sources read it through
(``cdrlake://``, cdr.lake.objectstore: the live files of each unit only).
"""

from __future__ import annotations

import pyarrow as pa
from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection
from duckdb.func import FunctionNullHandling, PythonUDFType
from duckdb.sqltypes import BOOLEAN, VARCHAR

from cdr import config
from cdr.lake import objectstore
from cdr.phones import country_of, is_number, to_e164


def _vectorised(scalar, kind: pa.DataType):
    def apply(numbers: pa.Array, regions: pa.Array) -> pa.Array:
        return pa.array([scalar(n, r) for n, r in zip(numbers.to_pylist(), regions.to_pylist())], kind)

    return apply


def register_functions(conn: DuckDBPyConnection) -> None:
    """The phone-number functions on any DuckDB connection (dbt's, a benchmark's, an analyst's)."""
    for name, scalar, kind, sql_kind in (
        ("cdr_e164", to_e164, pa.string(), VARCHAR),
        ("cdr_country", country_of, pa.string(), VARCHAR),
        ("cdr_is_number", is_number, pa.bool_(), BOOLEAN),
    ):
        conn.create_function(
            name,
            _vectorised(scalar, kind),
            [VARCHAR, VARCHAR],
            sql_kind,
            type=PythonUDFType.ARROW,
            side_effects=False,
            # a number that does not parse gives NULL: allowed, not an error
            null_handling=FunctionNullHandling.SPECIAL,
        )


class Plugin(BasePlugin):
    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        register_functions(conn)
        if config.lake_on_object_store():
            objectstore.register(conn)
