"""The warehouse: dbt builds of the lake, and the published, masked and DuckLake copies analysts read."""
