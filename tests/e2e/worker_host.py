"""The host name an Airflow process reports (``[core] hostname_callable``) in the scale-out test: two Celery
workers on one machine stand for two machines, so each is given a name of its own (``CDR_TEST_HOSTNAME``)."""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("CDR_TEST_HOSTNAME") or socket.getfqdn()
