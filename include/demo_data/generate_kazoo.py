"""Write the KAZOO demo data set: a small contact centre's call legs over three days, as Crossbar list rows.

Deterministic (seeded), so tests can count on it. Run: .venv/bin/python include/demo_data/generate_kazoo.py
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

GREGORIAN_UNIX_OFFSET = 62_167_219_200
OUT = Path(__file__).with_name("kazoo_cdrs.json")
FIRST_DAY = datetime(2026, 11, 19, tzinfo=UTC)
DAYS = 3
COMPANY_DID = "+18005550100"
# The account's second DID, which carriers send nationally (the phone_numbers API lists it as +18005550111).
SECOND_DID = "8005550111"

AGENTS = [
    ("1001", "u-ana", "Ana Lopez"),
    ("1002", "u-ben", "Ben Carter"),
    ("1003", "u-chloe", "Chloe Dubois"),
    ("1004", "u-dev", "Dev Patel"),
]
# National US numbers without +1 exercise the connection's default_region.
OUTSIDE = [
    "+12125550123",
    "2125550187",
    "+13125550199",
    "6175550142",
    "+442079460321",
    "+27821234567",
    "+4930123456789",
    "+972501234567",
    "+40721234567",
    "+33142868200",
    "+61291234567",
    "12345",
]


def leg(
    rng,
    call_id,
    interaction,
    start,
    duration,
    billing,
    cause,
    direction,
    caller,
    callee,
    owner=None,
    caller_name="",
    callee_name="",
    other=None,
    bridge=None,
    recording=False,
):
    g = int(start.timestamp()) + GREGORIAN_UNIX_OFFSET
    row = {
        "id": f"{start:%Y%m}-{call_id}",
        "call_id": call_id,
        "caller_id_number": caller,
        "caller_id_name": caller_name,
        "callee_id_number": callee,
        "callee_id_name": callee_name,
        "duration_seconds": duration,
        "billing_seconds": billing,
        "timestamp": g,
        "hangup_cause": cause,
        "other_leg_call_id": other,
        "owner_id": owner,
        "to": f"{callee}@demo.sip.example",
        "from": f"{caller}@demo.sip.example",
        "direction": direction,
        "request": f"{callee}@demo.sip.example",
        "authorizing_id": owner or "",
        "cost": "0",
        "dialed_number": callee,
        "calling_from": caller,
        "datetime": start.strftime("%Y-%m-%d %H:%M:%S"),
        "unix_timestamp": int(start.timestamp()),
        "rfc_1036": start.strftime("%a, %d %b %Y %H:%M:%S GMT"),
        "iso_8601": start.strftime("%Y-%m-%d"),
        "call_type": "",
        "rate": "0.0",
        "rate_name": "",
        "bridge_id": bridge or call_id,
        "recording_url": f"https://recordings.demo.example/{call_id}.mp3" if recording else "",
        "media_server": "fs1.demo.example",
        "call_priority": "",
        "interaction_id": interaction,
    }
    if rng.random() < 0.1:
        # Fields beyond the documented summary must survive to the lake's _raw column.
        row["custom_channel_vars"] = {"campaign": "winter", "queue_priority": rng.randint(1, 5)}
    return row


def vendor_shaped_calls(rng) -> list[dict]:
    """Calls in the shapes of KAZOO's own examples (crossbar cdrs.md, channel events): an agent's device dialling
    out through a carrier, its A-leg showing the dialled number as both caller and callee id; and a device calling
    another device, the B-leg's caller id a placeholder (`0000000000`) and a device dialled by name."""
    uid = lambda: str(uuid.UUID(int=rng.getrandbits(128)))  # noqa: E731
    rows = []
    for day in range(DAYS):
        for _ in range(3):
            start = FIRST_DAY + timedelta(days=day, seconds=rng.randint(8 * 3600, 18 * 3600))
            ext, owner, name = rng.choice(AGENTS)
            outside = rng.choice(OUTSIDE[:-1])
            a, b = uid(), uid()
            interaction = f"{int(start.timestamp()) + GREGORIAN_UNIX_OFFSET}-{uid()[:8]}"
            talk = rng.randint(30, 300)
            device_leg = leg(
                rng,
                a,
                interaction,
                start,
                talk + 5,
                talk,
                "NORMAL_CLEARING",
                "inbound",
                outside,
                outside,
                owner=owner,
                other=b,
            )
            device_leg.update({"from": f"device_{owner}@demo.sip.example", "calling_from": ext})
            carrier_leg = leg(
                rng,
                b,
                interaction,
                start,
                talk + 5,
                talk,
                "NORMAL_CLEARING",
                "outbound",
                COMPANY_DID,
                outside,
                owner=owner,
                caller_name="DEMO CONTACT CENTRE",
                other=a,
                bridge=a,
            )
            rows += [device_leg, carrier_leg]
            ext2, owner2, name2 = rng.choice([x for x in AGENTS if x[0] != ext])
            a, b = uid(), uid()
            start += timedelta(minutes=30)
            interaction = f"{int(start.timestamp()) + GREGORIAN_UNIX_OFFSET}-{uid()[:8]}"
            a_leg = leg(
                rng,
                a,
                interaction,
                start,
                40,
                35,
                "NORMAL_CLEARING",
                "inbound",
                ext,
                ext2,
                owner=owner,
                caller_name=name,
                callee_name=name2,
                other=b,
            )
            b_leg = leg(
                rng,
                b,
                interaction,
                start,
                39,
                35,
                "NORMAL_CLEARING",
                "outbound",
                "0000000000",
                ext2,
                owner=owner2,
                callee_name=name2,
                other=a,
                bridge=a,
            )
            b_leg.update(
                {
                    "from": f"device_{owner}@demo.sip.example",
                    "dialed_number": f"device_{owner2}",
                    "request": f"device_{owner2}@demo.sip.example",
                    "to": f"device_{owner2}@demo.sip.example",
                }
            )
            rows += [a_leg, b_leg]
    return rows


def vendor_writing(rows: list[dict], rng) -> None:
    """Some rows written as KAZOO's own documentation writes list rows: every number a string, `""` for a missing
    owner, quotes inside `iso_8601` and `rfc_1036`."""
    for row in rows:
        if rng.random() < 0.2:
            for key in ("duration_seconds", "billing_seconds", "timestamp", "unix_timestamp"):
                row[key] = str(row[key])
            row["owner_id"] = row["owner_id"] or ""
            row["iso_8601"] = f'"{row["iso_8601"]}"'
            row["rfc_1036"] = f'"{row["rfc_1036"]}"'


def main() -> None:
    rng = random.Random(20261119)
    uid = lambda: str(uuid.UUID(int=rng.getrandbits(128)))  # noqa: E731
    rows = []
    for day in range(DAYS):
        base = FIRST_DAY + timedelta(days=day)
        for _ in range(60):
            start = base + timedelta(seconds=rng.randint(7 * 3600, 20 * 3600))
            interaction = f"{int(start.timestamp()) + GREGORIAN_UNIX_OFFSET}-{uid()[:8]}"
            ext, owner, name = rng.choice(AGENTS)
            outside = rng.choice(OUTSIDE[:-1])
            kind = rng.choices(
                ["in", "out", "internal", "forward", "voicemail", "conference"], weights=[6, 3, 1, 0.4, 0.4, 0.3]
            )[0]
            ring = rng.randint(2, 30)
            talk = rng.randint(20, 600)
            a, b = uid(), uid()
            if kind == "in":
                outcome = rng.choices(["answered", "gave_up", "busy"], weights=[7, 2, 1])[0]
                if outcome == "answered":
                    a_cause, b_cause, bill = "NORMAL_CLEARING", "NORMAL_CLEARING", talk
                elif outcome == "gave_up":
                    a_cause, b_cause, bill = "ORIGINATOR_CANCEL", "ORIGINATOR_CANCEL", 0
                else:
                    a_cause, b_cause, bill = "USER_BUSY", "USER_BUSY", 0
                dur = ring + bill
                did = rng.choice([COMPANY_DID, COMPANY_DID, SECOND_DID])
                caller = "anonymous" if rng.random() < 0.05 else outside
                rows.append(
                    leg(
                        rng,
                        a,
                        interaction,
                        start,
                        dur,
                        bill,
                        a_cause,
                        "inbound",
                        caller,
                        did,
                        caller_name="OUTSIDE CALLER",
                        other=b,
                        recording=bill > 0,
                    )
                )
                rows.append(
                    leg(
                        rng,
                        b,
                        interaction,
                        start + timedelta(seconds=1),
                        dur - 1,
                        bill,
                        b_cause,
                        "outbound",
                        caller,
                        ext,
                        owner=owner,
                        callee_name=name,
                        other=a,
                        bridge=a,
                    )
                )
            elif kind == "out":
                outcome = rng.choices(["answered", "no_answer", "busy", "bad_number"], weights=[5, 3, 1, 1])[0]
                cause = {
                    "answered": "NORMAL_CLEARING",
                    "no_answer": "NO_ANSWER",
                    "busy": "USER_BUSY",
                    "bad_number": "UNALLOCATED_NUMBER",
                }[outcome]
                bill = talk if outcome == "answered" else 0
                dur = ring + bill if outcome != "bad_number" else 1
                rows.append(
                    leg(
                        rng,
                        a,
                        interaction,
                        start,
                        dur,
                        bill,
                        cause,
                        "inbound",
                        ext,
                        outside,
                        owner=owner,
                        caller_name=name,
                        other=b,
                    )
                )
                # KAZOO copies the calling side's channel variables (owner_id) onto the carrier leg, mostly.
                rows.append(
                    leg(
                        rng,
                        b,
                        interaction,
                        start,
                        dur,
                        bill,
                        cause,
                        "outbound",
                        COMPANY_DID,
                        outside,
                        owner=owner if rng.random() < 0.9 else None,
                        caller_name="DEMO CONTACT CENTRE",
                        other=a,
                        bridge=a,
                        recording=bill > 0,
                    )
                )
            elif kind == "forward":
                # the agent forwards their calls to a mobile: carrier leg in, then the switch calls the mobile
                mobile = "+12125550" + str(rng.randint(100, 999))
                rows.append(
                    leg(
                        rng,
                        a,
                        interaction,
                        start,
                        ring + talk,
                        talk,
                        "NORMAL_CLEARING",
                        "inbound",
                        outside,
                        COMPANY_DID,
                        caller_name="OUTSIDE CALLER",
                        other=b,
                    )
                )
                rows.append(
                    leg(
                        rng,
                        b,
                        interaction,
                        start + timedelta(seconds=1),
                        ring + talk - 1,
                        talk,
                        "NORMAL_CLEARING",
                        "outbound",
                        outside,
                        mobile,
                        owner=owner,
                        other=a,
                        bridge=a,
                    )
                )
            elif kind == "voicemail":
                left = rng.randint(10, 60)
                rows.append(
                    leg(
                        rng,
                        a,
                        interaction,
                        start,
                        ring + left,
                        left,
                        "NORMAL_CLEARING",
                        "inbound",
                        outside,
                        COMPANY_DID,
                        caller_name="OUTSIDE CALLER",
                        other=b,
                    )
                )
                rows.append(
                    leg(
                        rng,
                        b,
                        interaction,
                        start + timedelta(seconds=ring),
                        left,
                        left,
                        "NORMAL_CLEARING",
                        "outbound",
                        outside,
                        "*97",
                        owner=owner,
                        callee_name="Voicemail",
                        other=a,
                        bridge=a,
                        recording=True,
                    )
                )
            elif kind == "conference":
                rows.append(
                    leg(
                        rng,
                        a,
                        interaction,
                        start,
                        talk,
                        talk,
                        "NORMAL_CLEARING",
                        "inbound",
                        outside,
                        "conference",
                        caller_name="OUTSIDE CALLER",
                        other=b,
                    )
                )
                rows.append(
                    leg(
                        rng,
                        b,
                        interaction,
                        start,
                        talk,
                        talk,
                        "NORMAL_CLEARING",
                        "inbound",
                        ext,
                        "conference",
                        owner=owner,
                        caller_name=name,
                        other=a,
                        bridge=a,
                    )
                )
            else:
                ext2, owner2, name2 = rng.choice([x for x in AGENTS if x[0] != ext])
                bill = talk // 4
                rows.append(
                    leg(
                        rng,
                        a,
                        interaction,
                        start,
                        ring + bill,
                        bill,
                        "NORMAL_CLEARING",
                        "inbound",
                        ext,
                        ext2,
                        owner=owner,
                        caller_name=name,
                        callee_name=name2,
                        other=b,
                    )
                )
                rows.append(
                    leg(
                        rng,
                        b,
                        interaction,
                        start,
                        ring + bill,
                        bill,
                        "NORMAL_CLEARING",
                        "outbound",
                        ext,
                        ext2,
                        owner=owner2,
                        caller_name=name,
                        callee_name=name2,
                        other=a,
                        bridge=a,
                    )
                )
    rows += vendor_shaped_calls(random.Random(2015_06_26))
    vendor_writing(rows, random.Random(2600))
    rows.sort(key=lambda r: (int(r["timestamp"]), r["id"]))
    OUT.write_text(json.dumps(rows, indent=1) + "\n")
    print(f"wrote {len(rows)} KAZOO CDR rows to {OUT}")


if __name__ == "__main__":
    main()
