"""The Airflow side: the provider (Connection types), the Assets, schedules and queues the DAGs use."""
