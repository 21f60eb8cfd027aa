"""Defaults for every process of the project's virtualenv, imported by a .pth file that `make install` writes.

So `.venv/bin/airflow` finds this project's DAGs and keeps its state in the project with no airflow.cfg
and nothing exported. Whatever the environment already sets wins.
"""

import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]

for _key, _value in {
    "AIRFLOW_HOME": str(_ROOT / ".airflow"),
    "AIRFLOW__CORE__DAGS_FOLDER": str(_ROOT / "dags"),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(_ROOT / "plugins"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
}.items():
    os.environ.setdefault(_key, _value)
