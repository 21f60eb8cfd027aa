"""KAZOO (2600Hz) Crossbar CDRs: the API client, the record layout and the interval pull."""
