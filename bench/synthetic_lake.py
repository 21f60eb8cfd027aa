"""Synthetic CDRs for the warehouse benchmark, written straight into a lake with DuckDB.

Each source's rows carry the columns its staging model reads, typed as the lake's schema (registry.lake_tables), with
realistic repetition: a pool of customers who call again, a few hundred agents and queues, re-read and re-sent
copies (which the warehouse must count once), an hourly file per source as the pull DAGs write them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

# Share of the legs per source, and of the legs read twice (PBX look-back re-reads, Voicenter re-sends,
# Enigma batches drained again after a crash).
SHARES = {"kazoo": 0.30, "pbx": 0.25, "enigma": 0.25, "voicenter": 0.20}
REREAD_SHARE = 0.02
CUSTOMERS = 400_000  # distinct outside numbers per source
AGENTS = 300

# ``{n}`` legs numbered from ``{first}``, spread evenly over [{t0}, {t0} + {span} s); ``{read}`` is how long
# after its hour a leg's pull ran; ``h`` is a per-leg hash that picks customers, agents and outcomes.
LEGS = """
        with legs as (
            select i, (hash(i) % 1000000007)::bigint as h, to_timestamp({t0} + (i - {first}) * {span} / {n}) as ts
            from range({first}, {first} + {n}) t(i)
        )"""
# The lineage of a pulled record, as cdr.sources.pull writes it: one file per source, hour and pull.
PULLED = """
        select * exclude (ts), to_json(rows) as _raw, strftime(ts, '%Y-%m-%d') as "date", hour(ts) as "hour",
               date_trunc('hour', ts) as _interval_start, date_trunc('hour', ts) + interval 1 hour as _interval_end,
               date_trunc('hour', ts) + interval 1 hour + interval {read} second as _extracted_at,
               '{source}' as _source, 'page-1' as _batch
        from rows
"""
SQL = {
    "kazoo": """
        with legs as (
            select i, i // 2 as call_no, i % 2 as leg, (hash(i // 2) % 1000000007)::bigint as h,
                   to_timestamp({t0} + (i - {first}) * {span} / {n}) as ts
            from range({first}, {first} + {n}) t(i)
        ), rows as (
            select
                'k' || i as id, 'call-' || i as call_id, 'ia-' || call_no as interaction_id,
                case when leg = 0 then 'inbound' else 'outbound' end as direction,
                case when h % 10 = 0 then '+44' || (7700000000 + h % {customers})
                     else (2012000000 + h % {customers})::varchar end as caller_id_number,
                case when leg = 0 then '+18005550100' else (1000 + h % {agents})::varchar end as callee_id_number,
                case when leg = 1 then 'Agent ' || (h % {agents}) end as callee_id_name,
                case when leg = 1 then 'user-' || (h % {agents}) end as owner_id,
                ['NORMAL_CLEARING', 'NORMAL_CLEARING', 'ORIGINATOR_CANCEL', 'USER_BUSY', 'NO_ANSWER'][1 + h % 5]
                    as hangup_cause,
                (20 + h % 400)::bigint as duration_seconds,
                (case when h % 5 < 2 then 10 + h % 380 else 0 end)::bigint as billing_seconds,
                (epoch(ts) + 62167219200)::bigint as "timestamp",
                'https://rec.example/' || i as recording_url,
                'US' as _default_region,
                ts
            from legs
        )
    """
    + PULLED,
    "pbx": LEGS
    + """, rows as (
            select
                'p' || i as id, 'u' || i as uniqueid, 'l' || (i // 3) as linkedid,
                strftime(timezone('Europe/Bucharest', ts), '%Y-%m-%d %H:%M:%S') as "time",
                ts as time_utc, ts + to_seconds(30 + h % 300) as time_end_utc,
                '"Client" <07' || (20000000 + h % {customers}) || '>' as caller_id,
                case when h % 3 = 0 then 'OUT' else 'IN' end as direction,
                case when h % 3 = 0 then '07' || (40000000 + h % {customers}) else '0312285000' end as destination,
                'PJSIP/trunk' as channel_formatted, 'PJSIP/agent-' || (h % {agents}) as dstchannel_formatted,
                'Agent ' || (h % {agents}) as user_fullname,
                case when h % 2 = 0 then 'queue-' || (h % 12) end as qname,
                ['ANSWERED', 'ANSWERED', 'NO ANSWER', 'BUSY', 'FAILED'][1 + h % 5] as call_status,
                'DS:ANSWER|HC:16|HI:SIP 200 OK' as call_status_info,
                '00:00:' || lpad((h % 60)::varchar, 2, '0') as bill_duration,
                '00:01:' || lpad((h % 60)::varchar, 2, '0') as duration,
                '00:00:' || lpad((h % 30)::varchar, 2, '0') as ring_time,
                '00:00:' || lpad((h % 45)::varchar, 2, '0') as hold_time,
                'Europe/Bucharest' as _timezone,
                ts
            from legs
        )
    """
    + PULLED,
    "enigma": LEGS
    + """
        select
            'enigma:notifications:campaigns' as _key, 'Africa/Johannesburg' as _timezone,
            to_json({{'type': 'cdr', 'payload': {{
                'call_ref': 'e' || i,
                'extension': case when h % 7 <> 0 then (2000 + h % {agents})::varchar end,
                'number': '08' || (20000000 + h % {customers}),
                'dialed_at': strftime(ts, '%Y-%m-%dT%H:%M:%SZ'),
                'end_reason': ['ANSWERED', 'NO_ANSWER', 'BUSY', 'VOICEMAIL', 'ANSWERED'][1 + h % 5],
                'end_code': '200',
                'call_time': (h % 400)::varchar,
                'call_dir': case when h % 4 = 0 then 'inbound' else 'outbound' end,
                'ref': 'campaign-' || (h % 20)}}}})::varchar as _raw,
            strftime(ts, '%Y-%m-%d') as "date", hour(ts) as "hour",
            date_trunc('hour', ts) + interval 1 hour + interval {read} second as _extracted_at,
            'enigma' as _source, 'batch-' || (i // 20000) as _batch
        from legs
    """,
    "voicenter": LEGS
    + """, rows as (
            select
                'v' || i as ivruniqueid,
                case when h % 4 = 0 then 'v' || (i - 1) end as "OriginalIvrUniqueID",
                ['Incoming Call', 'Queue', 'Extension Outgoing', 'Queue', 'Click2Call leg2'][1 + h % 5] as "type",
                ['ANSWER', 'ANSWER', 'ABANDONE', 'NOANSWER', 'BUSY'][1 + (h // 7) % 5] as status,
                '05' || (20000000 + h % {customers}) as caller,
                (100 + h % {agents})::varchar as target, '037654321' as did,
                (100 + h % {agents})::varchar as targetextension, 'Agent ' || (h % {agents}) as targetextension_name,
                (100 + h % {agents})::varchar as callerextension,
                case when h % 5 in (1, 3) then (h % 15)::varchar else '0' end as queueid,
                case when h % 5 in (1, 3) then 'Queue ' || (h % 15) end as queuename,
                -- the account's wall clock written as epoch seconds, as Voicenter sends it (voicenter.times)
                epoch(timezone('Asia/Jerusalem', ts))::bigint as "time", (h % 300)::bigint as duration,
                (h % 25)::bigint as dialtime,
                (h % 90)::bigint as seconds_waiting_in_queue, (h % 500)::bigint as price,
                ts + interval 2 second as received_at, 'json' as received_format,
                ts, i
            from legs
        )
        select * exclude (ts, i), to_json(rows) as _raw, strftime(ts, '%Y-%m-%d') as "date", hour(ts) as "hour",
               -- the instant the loader reads `time` as, in the zone it was loaded under
               ts as time_utc, 'Asia/Jerusalem' as _timezone, 'local' as _time_basis,
               date_trunc('hour', ts) + interval 1 hour + interval {read} second as _extracted_at,
               'voicenter' as _source, 'segment-' || (i // 5000) as _batch
        from rows
    """,
}


def write_legs(
    lake: Path,
    total: int,
    start: datetime,
    days: float,
    *,
    first: int = 0,
    read_delay: int = 120,
    customers: int = CUSTOMERS,
    con: duckdb.DuckDBPyConnection | None = None,
) -> dict[str, int]:
    """``total`` legs across the four sources over ``days`` from ``start``, plus the re-read copies; the outside
    numbers come from a pool of ``customers`` per source (a small pool: many repeat callers).

    Returns the number of distinct legs per source (what the warehouse must hold for them).
    """
    con = con or duckdb.connect()
    con.execute("set enable_progress_bar = false")  # the benchmark prints its own progress
    t0 = int(start.replace(tzinfo=UTC).timestamp())
    span = int(days * 86400)
    distinct: dict[str, int] = {}
    for source, share in SHARES.items():
        n = int(total * share)
        query = SQL[source].format(
            first=first, n=n, t0=t0, span=span, read=read_delay, source=source, customers=customers, agents=AGENTS
        )
        target = lake / source
        target.mkdir(parents=True, exist_ok=True)
        con.execute(
            f"copy ({query}) to '{target}' (format parquet, compression zstd, "
            f'partition_by ("date", "hour"), filename_pattern \'bench_{first}_{{uuid}}\', append)'
        )
        # A share of the legs read again later: the same record, a later _extracted_at.
        reread = max(1, int(n * REREAD_SHARE))
        again = SQL[source].format(
            first=first,
            n=reread,
            t0=t0,
            span=int(span * REREAD_SHARE),
            source=source,
            read=read_delay + 3600,
            customers=customers,
            agents=AGENTS,
        )
        con.execute(
            f"copy ({again}) to '{target}' (format parquet, compression zstd, "
            f'partition_by ("date", "hour"), filename_pattern \'bench_{first}_again_{{uuid}}\', append)'
        )
        distinct[source] = n
    return distinct


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("lake", type=Path)
    parser.add_argument("--legs", type=int, default=10_000_000)
    args = parser.parse_args()
    print(write_legs(args.lake, args.legs, datetime.now(UTC) - timedelta(days=91), 90))
