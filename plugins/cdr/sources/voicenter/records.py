"""The Voicenter lake table: every field of the CDR Notification document, as sent, plus how it arrived."""

from __future__ import annotations

import pyarrow as pa

from cdr.lake.writer import TS, lake_schema

SOURCE = "voicenter"
STRING_FIELDS = (
    "ivruniqueid",
    "OriginalIvrUniqueID",
    "type",
    "status",
    "leg1DialStatusName",
    "caller",
    "caller_number",
    "target",
    "targetextension",
    "targetextension_name",
    "callerextension",
    "callerextension_name",
    "did",
    "queueid",
    "queuename",
    "record",
    "representative_name",
    "representative_code",
    "target_country",
    "caller_country",
    "DepartmentID",
    "DepartmentName",
    "TopDepartmentID",
    "TopDepartmentName",
    "IVR",
)
INT_FIELDS = ("time", "duration", "dialtime", "price", "seconds_waiting_in_queue")
SCHEMA = lake_schema(
    [pa.field(name, pa.string()) for name in STRING_FIELDS]
    + [pa.field(name, pa.int64()) for name in INT_FIELDS]
    + [pa.field("received_at", TS), pa.field("received_format", pa.string())]
    # `time` as a true UTC instant (cdr.sources.voicenter.times), read with the zone and basis the row was loaded under;
    # null where `time` names no call. Files written before these columns read as null: staging reads `time`
    # with the registry's zone then.
    + [pa.field("time_utc", TS), pa.field("_timezone", pa.string()), pa.field("_time_basis", pa.string())]
    # How the row reached the lake: "webhook" (posted to cdr-receiver) or "call_log" (recovered by
    # voicenter_reconcile). Files written before the column existed read as null, meaning webhook.
    + [pa.field("_origin", pa.string())]
    # The region that numbers without a country code belong to, as configured when the row was loaded.
    + [pa.field("_default_region", pa.string())]
)
ORIGIN_WEBHOOK, ORIGIN_CALL_LOG = "webhook", "call_log"

# The Call Log's true-UTC start of each CDR the webhook also delivered (cdr.sources.voicenter.reconcile): the second
# witness of how the account writes ``time``.
WITNESS_FOLDER = "voicenter_time_witness"
WITNESS_SCHEMA = lake_schema(
    [pa.field("call_id", pa.string()), pa.field("log_started_at", TS), pa.field("webhook_time", pa.int64())]
)
