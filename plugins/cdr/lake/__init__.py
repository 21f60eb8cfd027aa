"""The Parquet lake: durable writes of raw records, local or on object storage, and what the pulls list."""
