"""The daily report: figures from the published warehouse (read-only), as CSVs, charts and one HTML page.

figures: what each figure is (its SQL in include/reports/, keys, measures) and how a day is compared with the
day before and the same weekday a week before; charts: matplotlib (Agg) SVGs; build: one day's report written
atomically under reports/<day>/; delivery: mail through the Airflow SMTP provider; readiness: whether the
warehouse holds the whole day yet.
"""
