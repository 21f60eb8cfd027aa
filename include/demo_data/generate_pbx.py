"""Write the While1 PBX demo data set: a Romanian contact centre's calls over three days, as /api/cdr rows.

Times are the PBX's wall-clock time (Europe/Bucharest); ids follow the order the PBX wrote the rows (call end).
Deterministic (seeded). Run: .venv/bin/python include/demo_data/generate_pbx.py
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

OUT = Path(__file__).with_name("pbx_cdrs.json")
TZ = ZoneInfo("Europe/Bucharest")
FIRST_DAY = datetime(2026, 11, 19, tzinfo=TZ)
DAYS = 3
DID = "0312285000"
AGENTS = [("ana-pop", "Ana Pop"), ("mihai-ionescu", "Mihai Ionescu"), ("elena-radu", "Elena Radu")]
QUEUES = ["Suport", "Vanzari"]
OUTSIDE = [
    "0722123456",
    "0744987654",
    "0213101010",
    "+4915112345678",
    "+393471234567",
    "0040755111222",
    "+359888123456",
    "0731000111",
]
STATUS_INFO = {
    "ANSWERED": "DS:ANSWER|HC:16|HI:",
    "NO ANSWER": "DS:NOANSWER|HC:19|HI:",
    "BUSY": "DS:BUSY|HC:17|HI:SIP 486 Busy Here",
    "FAILED": "DS:CHANUNAVAIL|HC:34|HI:SIP 503 Service Unavailable",
    "CONGESTION": "DS:CONGESTION|HC:34|HI:SIP 503 Service Unavailable",
}


def hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def row(start: datetime, seq: int, linkedid: str | None, **fields) -> dict:
    duration = fields.pop("duration")
    bill = fields.pop("bill")
    uniqueid = f"{int(start.timestamp())}.{seq}"
    base = {
        "id": None,
        "uniqueid": uniqueid,
        "linkedid": linkedid or uniqueid,
        "time": start.strftime("%Y-%m-%d %H:%M:%S"),
        "time_end": (start + timedelta(seconds=duration)).strftime("%Y-%m-%d %H:%M:%S"),
        "caller_id": None,
        "source": None,
        "destination": None,
        "direction": None,
        "channel_formatted": "",
        "dstchannel_formatted": "",
        "customer_id": None,
        "user_fullname": None,
        "qname": None,
        "code": None,
        "call_status": None,
        "call_status_info": None,
        "call_codes": None,
        "accounting_code": None,
        "accounting_value": None,
        "comments": None,
        "monitor_files": None,
        "monitor_urls": None,
        "recording_file": None,
        "recording_url": None,
        "transfers": None,
        "project": "Demo Contact Center",
        "inbound_route": None,
        "inbound_route_id": None,
        "queue_log": None,
        "ivr_log": None,
        "external_id": None,
        "external_info": None,
        "agent_details": None,
        "is_recovered": None,
        "transcription_id": None,
        "transcription_text": None,
        "bill_duration": hms(bill),
        "duration": hms(duration),
        "bill_minutes": (bill + 59) // 60,
        "ivr_duration": "00:00:00",
        "hold_time": "00:00:00",
        "ring_time": "00:00:00",
    }
    base.update(fields)
    base["call_status_info"] = STATUS_INFO[base["call_status"]]
    # Some PBX releases write the words in other cases.
    if seq % 9 == 0:
        base["call_status"] = base["call_status"].title()
        base["direction"] = base["direction"].lower()
    if bill:
        base["recording_file"] = f"{uniqueid}.wav"
        base["recording_url"] = f"https://pbx.demo.example/recordings/{uniqueid}.wav"
    return base


def main() -> None:
    rng = random.Random(20261119)
    rows = []
    seq = 0
    for day in range(DAYS):
        base = FIRST_DAY + timedelta(days=day)
        for _ in range(50):
            seq += 1
            start = base + timedelta(seconds=rng.randint(8 * 3600, 19 * 3600))
            agent, name = rng.choice(AGENTS)
            outside = rng.choice(OUTSIDE)
            ring, talk, wait = rng.randint(3, 25), rng.randint(30, 500), rng.randint(0, 90)
            if rng.random() < 0.6:
                queue = rng.choice(QUEUES)
                answered = rng.random() < 0.75
                status = "ANSWERED" if answered else "NO ANSWER"
                first = row(
                    start,
                    seq,
                    None,
                    caller_id=f'"{outside}" <{outside}>',
                    source=outside,
                    destination=DID,
                    direction="IN",
                    code="inbound",
                    qname=queue,
                    call_status=status,
                    call_codes="in answered" if answered else "in abandoned",
                    channel_formatted="PJSIP/trunk-demo",
                    dstchannel_formatted=f"PJSIP/{agent}" if answered else "",
                    user_fullname=name if answered else None,
                    inbound_route="Main DID",
                    inbound_route_id="1",
                    hold_time=hms(wait),
                    ring_time=hms(ring),
                    duration=wait + ring + (talk if answered else 0),
                    bill=talk if answered else 0,
                )
                rows.append(first)
                if answered and rng.random() < 0.15:
                    # A blind transfer to a colleague: a second leg of the same call (same linkedid).
                    seq += 1
                    colleague, colleague_name = rng.choice([a for a in AGENTS if a[0] != agent])
                    second_start = start + timedelta(seconds=wait + ring + talk)
                    rows.append(
                        row(
                            second_start,
                            seq,
                            first["linkedid"],
                            caller_id=f'"{outside}" <{outside}>',
                            source=outside,
                            destination=DID,
                            direction="IN",
                            code="inbound",
                            qname=queue,
                            call_status="ANSWERED",
                            call_codes="in transferred",
                            channel_formatted=f"PJSIP/{agent}",
                            dstchannel_formatted=f"PJSIP/{colleague}",
                            user_fullname=colleague_name,
                            transfers=[{"from": agent, "to": colleague}],
                            ring_time=hms(4),
                            duration=4 + 120,
                            bill=120,
                        )
                    )
            else:
                status = rng.choices(list(STATUS_INFO), weights=[5, 3, 1, 1, 1])[0]
                answered = status == "ANSWERED"
                rows.append(
                    row(
                        start,
                        seq,
                        None,
                        caller_id=f'"{name}" <{DID}>',
                        source=DID,
                        destination=outside,
                        direction="OUT",
                        code="outbound",
                        call_status=status,
                        call_codes="out answered" if answered else "out no answer",
                        channel_formatted=f"PJSIP/{agent}",
                        user_fullname=name,
                        ring_time=hms(ring),
                        duration=ring + (talk if answered else 0),
                        bill=talk if answered else 0,
                    )
                )
    rows.sort(key=lambda r: (r["time_end"], r["uniqueid"]))
    for number, item in enumerate(rows, 29000):
        item["id"] = str(number)
    rows.sort(key=lambda r: (r["time"], r["uniqueid"]))
    OUT.write_text("[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n]\n")
    print(f"wrote {len(rows)} PBX CDR rows to {OUT}")


if __name__ == "__main__":
    main()
