"""CDR warehouse: sources, lake, warehouse publishing and reporting."""
