"""Compare two published warehouses relation by relation: same relations, same columns, same rows.

    .venv/bin/python scripts/compare_warehouses.py BEFORE.duckdb AFTER.duckdb [--ignore TABLE.COLUMN ...]

Every table and view of every schema is compared with EXCEPT ALL both ways (a multiset comparison: a row
twice on one side and once on the other differs). Columns named with --ignore (``schema.table.column``, or
``*.column`` for every relation) are left out of the rows compared but must still exist on both sides. Exit
status 0 when the warehouses are identical that way, 1 otherwise; one line per relation either way.
"""

from __future__ import annotations

import argparse
import fnmatch
import sys

import duckdb

from cdr.warehouse.duckfile import sql_string


def relations(con: duckdb.DuckDBPyConnection, alias: str) -> dict[str, list[tuple[str, str]]]:
    """``schema.table`` to its columns (name, type), in order, of the attached database ``alias``."""
    found: dict[str, list[tuple[str, str]]] = {}
    for schema, table, column, data_type in con.execute(
        "select schema_name, table_name, column_name, data_type from duckdb_columns() "
        "where database_name = ? order by schema_name, table_name, column_index",
        [alias],
    ).fetchall():
        found.setdefault(f"{schema}.{table}", []).append((column, data_type))
    return found


def compare(before: str, after: str, ignore: list[str] = ()) -> tuple[bool, list[str]]:
    con = duckdb.connect()
    con.execute(f"attach {sql_string(before)} as before (read_only)")
    con.execute(f"attach {sql_string(after)} as after (read_only)")
    old, new = relations(con, "before"), relations(con, "after")
    same, lines = True, []
    for name in sorted(set(old) | set(new)):
        if name not in new or name not in old:
            same = False
            lines.append(f"{name}: only in {'before' if name in old else 'after'}")
            continue
        if old[name] != new[name]:
            same = False
            lines.append(f"{name}: columns differ: {old[name]} vs {new[name]}")
            continue
        kept = [c for c, _ in old[name] if not any(fnmatch.fnmatch(f"{name}.{c}", pattern) for pattern in ignore)]
        schema, table = name.split(".", 1)
        # every column left out: the row counts alone are compared
        cols = ", ".join(f'"{c}"' for c in kept) or "1"
        counts = []
        for first, second in (("before", "after"), ("after", "before")):
            counts.append(
                con.execute(
                    f'select count(*) from (select {cols} from {first}."{schema}"."{table}" '
                    f'except all select {cols} from {second}."{schema}"."{table}")'
                ).fetchone()[0]
            )
        rows = con.execute(f'select count(*) from before."{schema}"."{table}"').fetchone()[0]
        left_out = len(old[name]) - len(kept)
        note = (
            f" ({left_out} column(s) left out: {', '.join(c for c, _ in old[name] if c not in kept)})"
            if left_out
            else ""
        )
        if counts == [0, 0]:
            lines.append(f"{name}: identical, {rows} rows, {len(kept)} columns{note}")
        else:
            same = False
            lines.append(f"{name}: DIFFERENT: {counts[0]} rows only before, {counts[1]} only after{note}")
    return same, lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--ignore", action="append", default=[])
    args = parser.parse_args(argv)
    same, lines = compare(args.before, args.after, args.ignore)
    print("\n".join(lines))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
