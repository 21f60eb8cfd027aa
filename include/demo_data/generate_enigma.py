"""Write the Enigma demo messages: what the dialer pushes on its Redis LISTs, one raw message per line.

enigma_messages.jsonl lines are `<key>\t<message as the dialer sends it>`, oldest first. Most are campaign CDRs
({"type": "cdr", "payload": {...}}); a few are of another type, a few come on the deprecated c2d key, and one
is not JSON at all (it must end up in quarantine, never blocking the list). Deterministic (seeded).
Run: .venv/bin/python include/demo_data/generate_enigma.py
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

OUT = Path(__file__).with_name("enigma_messages.jsonl")
CAMPAIGNS = "enigma:notifications:campaigns"
C2D = "enigma:notifications:c2d"
SAST = timezone(timedelta(hours=2))
# The dialer's words come as Asterisk's dial statuses and CDR dispositions, in any case, and words of its own;
# DNC_BLOCKED is one nobody documents (its SIP end_code decides, and the data-quality table counts it).
REASONS = [
    "ANSWERED",
    "NO_ANSWER",
    "BUSY",
    "FAILED",
    "CONGESTION",
    "VOICEMAIL",
    "ABANDONED",
    "CANCELLED",
    "DNC_BLOCKED",
    "ANSWER",
    "NOANSWER",
    "Cancel",
    "chanunavail",
    "NO ANSWER",
]
SIP = {
    "ANSWERED": "200",
    "NO_ANSWER": "480",
    "BUSY": "486",
    "FAILED": "503",
    "CONGESTION": "503",
    "VOICEMAIL": "200",
    "ABANDONED": "487",
    "CANCELLED": "487",
    "DNC_BLOCKED": "603",
    "ANSWER": "200",
    "NOANSWER": "408",
    "Cancel": "487",
    "chanunavail": "503",
    "NO ANSWER": "480",
}
EXTENSIONS = ["3001", "3002", "3003", "3004"]


def cdr(rng: random.Random, n: int, day: datetime) -> dict:
    dialed = day + timedelta(seconds=rng.randint(8 * 3600, 18 * 3600))
    reason = rng.choices(REASONS, weights=[40, 15, 8, 4, 3, 5, 6, 3, 2, 10, 5, 2, 2, 3])[0]
    number = rng.choice(["0820001234", "27821234567", "0027731112222", "0115550199", "0761239876", "+447700900123"])
    # dialed_at comes in the three shapes seen in the field: local ISO, ISO with offset, epoch seconds.
    shape = n % 3
    dialed_at = (
        dialed.strftime("%Y-%m-%d %H:%M:%S")
        if shape == 0
        else dialed.isoformat()
        if shape == 1
        else int(dialed.timestamp())
    )
    talk = rng.randint(15, 400) if reason in ("ANSWERED", "ANSWER", "VOICEMAIL") else 0
    payload = {
        "extension": None if reason == "ABANDONED" else rng.choice(EXTENSIONS),
        "number": number,
        "call_ref": f"ENG-{n:06d}",
        "contact_ref": f"CUST-{rng.randint(1, 400):05d}",
        "dialed_at": dialed_at,
        "end_reason": reason,
        "end_code": SIP[reason],
        "call_time": talk,
        "call_dir": "outbound" if rng.random() < 0.9 else "inbound",
        "recording_url": f"ftp://dialer.demo.example/rec/ENG-{n:06d}.wav" if talk else None,
        "ref": rng.choice(["WINTER-SALES", "RENEWALS", "SURVEY-Q4"]),
    }
    return {"type": "cdr", "payload": payload}


def main() -> None:
    rng = random.Random(20261120)
    lines = []
    day = datetime(2026, 11, 20, tzinfo=SAST).replace(hour=0)
    for n in range(1, 201):
        lines.append((CAMPAIGNS, json.dumps(cdr(rng, n, day))))
        if n % 50 == 0:
            lines.append(
                (CAMPAIGNS, json.dumps({"type": "campaign_status", "payload": {"ref": "RENEWALS", "status": "paused"}}))
            )
    for n in range(201, 206):
        lines.append(
            (
                C2D,
                json.dumps(
                    {
                        "notifications": [
                            {
                                "extension": "3001",
                                "disposition": "ANSWERED",
                                "call_ref": f"C2D-{n}-a",
                                "end_code": "16",
                                "recording_url": f"rec-{n}-a",
                            },
                            {
                                "extension": "3002",
                                "disposition": "NO_ANSWER",
                                "call_ref": f"C2D-{n}-b",
                                "end_code": "19",
                                "recording_url": None,
                            },
                        ]
                    }
                ),
            )
        )
    lines.insert(120, (CAMPAIGNS, '{"type": "cdr", "payload": {"call_ref": "ENG-BROKEN", '))  # cut short
    OUT.write_text("".join(f"{key}\t{message}\n" for key, message in lines))
    print(f"wrote {len(lines)} Enigma messages to {OUT}")


if __name__ == "__main__":
    main()
