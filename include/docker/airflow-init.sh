#!/bin/sh
# airflow-init (docker-compose.yaml): runs before the other Airflow components on every `docker compose up`,
# and may be run again at any time: each step keeps what an earlier run did.
set -eu

# 1. What a receiver of the earlier layout staged in the shared data volume (CDR_DATA_VOLUME_DIR: cdr-data
#    mounted a second time, without the receiver's volume over it) into the receiver's own volume.
python -m cdr.sources.voicenter.relocate "$CDR_DATA_VOLUME_DIR/landing/voicenter" "$CDR_DATA_DIR/landing/voicenter"

# 2. Airflow's database, the auth manager's users and roles included.
airflow db migrate

# 3. The first admin. The password goes to `airflow users create` on its standard input (it asks twice), never
#    on a command line, which every user of the host can read in `ps`; printf is the shell's own. An existing
#    user is kept as it is: the password here only counts the first time.
printf '%s\n%s\n' "$AIRFLOW_ADMIN_PASSWORD" "$AIRFLOW_ADMIN_PASSWORD" | airflow users create \
    --username "$AIRFLOW_ADMIN_USER" --email "$AIRFLOW_ADMIN_EMAIL" --role Admin \
    --firstname Airflow --lastname Admin
