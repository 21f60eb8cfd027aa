"""Write the Voicenter demo CDRs: what Voicenter would POST for a day of an Israeli contact centre.

Covers queue calls (answered and abandoned, with an IVR path), direct incoming calls, manual outgoing calls,
Click2Call and attended-transfer calls (two legs sharing OriginalIvrUniqueID), voicemail, and errors.
Deterministic (seeded). Run: .venv/bin/python include/demo_data/generate_voicenter.py
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

OUT = Path(__file__).with_name("voicenter_cdrs.json")
ISRAEL = ZoneInfo("Asia/Jerusalem")
DAY = datetime(2026, 11, 20, 6, tzinfo=UTC)  # 08:00 in Israel
REPS = [("1001", "Noa Levi", "SIPNOA"), ("1002", "Avi Cohen", "SIPAVI"), ("1003", "Dana Mizrahi", "SIPDANA")]
OUTSIDE = ["0501234567", "0527654321", "036543210", "972541112233", "12125550123", "442079460321"]
DID = "0722776772"
IVR = [
    {"layer_id": 1234, "layer_name": "Main IVR", "layer_number": 0, "Dtmf": 2, "dtmf_order": 1},
    {"layer_id": 4321, "layer_name": "Sales Department", "layer_number": 2, "Dtmf": 0, "dtmf_order": 2},
]


def wall_epoch(when: datetime) -> int:
    """``time`` as Voicenter writes it: Israel's wall-clock time written as epoch seconds (voicenter.times)."""
    return int(when.astimezone(ISRAEL).replace(tzinfo=UTC).timestamp())


def base(n: int, when: datetime, call_type: str, status: str) -> dict:
    return {
        "ivruniqueid": f"20261120{n:06d}VC",
        "type": call_type,
        "status": status,
        "time": wall_epoch(when),
        "duration": 0,
        "dialtime": 0,
        "caller": "",
        "target": "",
        "targetextension": "",
        "callerextension": "",
        "did": "",
        "queueid": 0,
        "queuename": "",
        "record": "",
        "price": 0,
        "representative_name": "",
        "representative_code": "",
        "targetextension_name": "",
        "callerextension_name": "",
        "target_country": "",
        "caller_country": "",
        "DepartmentID": 12345678,
        "DepartmentName": "Demo Sales",
        "TopDepartmentID": 87654321,
        "TopDepartmentName": "Demo Account",
    }


def with_ai_analysis(cdrs: list[dict], rng) -> None:
    """Accounts that turn on the vendor's AI analysis get an `aiData` block on answered calls (the vendor's
    cdr-notification skill, b2a4031): insights, emotions per sentence and the transcript, nested a few levels;
    some integrations report it arriving as a JSON string."""
    for cdr in cdrs:
        if cdr["status"] != "ANSWER" or cdr["duration"] < 30 or rng.random() < 0.5:
            continue
        sentences = [
            ("Speaker0", "Good afternoon, thank you for calling"),
            ("Speaker1", "Hi, I'm calling about my order"),
            ("Speaker0", "Of course, let me look it up"),
        ]
        block = {
            "insights": {
                "questions": [
                    {
                        "key": "category",
                        "question": "Categorize the call",
                        "data_type": "string",
                        "answer": rng.choice(["sales", "support", "billing"]),
                    }
                ],
                "participants": {
                    "caller": {"name": None, "personality_traits": []},
                    "callee": {"name": cdr["representative_name"] or None, "personality_traits": ["professional"]},
                },
                "summary": "The caller asked about an order; the agent looked it up.",
            },
            "emotions": {
                "sentences": [
                    {
                        "sentence_id": i,
                        "emotion": rng.choice(["calm", "frustrated"]),
                        "emotion_direction": rng.choice([-1, 1]),
                        "confidence_emotion": 0.9,
                    }
                    for i in range(len(sentences))
                ]
            },
            "transcript": [
                {"speaker": who, "text": text, "startTime": 4.0 * i, "endTime": 4.0 * i + 3.2, "sentence_id": i}
                for i, (who, text) in enumerate(sentences)
            ],
        }
        cdr["aiData"] = json.dumps(block) if rng.random() < 0.3 else block


def main() -> None:
    rng = random.Random(20261120)
    cdrs = []
    n = 0
    for _ in range(40):
        n += 1
        when = DAY + timedelta(seconds=rng.randint(0, 10 * 3600))
        code, name, ext = rng.choice(REPS)
        outside = rng.choice(OUTSIDE)
        kind = rng.choices(["queue", "incoming", "outgoing", "c2c", "attended", "voicemail"], [8, 3, 6, 2, 1, 1])[0]
        if kind == "queue":
            status = rng.choices(["ANSWER", "ABANDONE"], [4, 1])[0]
            cdr = base(n, when, "Queue", status)
            # some callers who gave up in the queue are never called back: the call-back list has them
            caller = rng.choice(["0549998877", "0538887766"]) if status == "ABANDONE" and n % 2 else outside
            cdr.update(
                caller=caller,
                did=DID,
                queueid=rng.choice([111, 222]),
                caller_country="Israel",
                seconds_waiting_in_queue=rng.randint(2, 120),
                IVR=IVR if n % 2 else json.dumps(IVR),
            )  # an array, or a JSON string holding one
            cdr["queuename"] = {111: "Sales Queue", 222: "Support Queue"}[cdr["queueid"]]
            if status == "ANSWER":
                cdr.update(
                    # a queue call's duration includes its wait (the vendor's newer notes)
                    duration=rng.randint(30, 500) + cdr["seconds_waiting_in_queue"],
                    dialtime=rng.randint(2, 20),
                    targetextension=ext,
                    targetextension_name=name,
                    representative_code=code,
                    representative_name=name,
                    record=f"https://cpanel.voicenter.example/rec/{cdr['ivruniqueid']}.mp3",
                )
            cdrs.append(cdr)
        elif kind == "incoming":
            # some accounts send the words in lower case; HOLDTIMEOUT is a word nobody documents
            cdr = base(
                n,
                when,
                rng.choice(["Incoming Call", "incoming call"]),
                rng.choice(["ANSWER", "NOANSWER", "VOEND", "TE", "answer", "HOLDTIMEOUT"]),
            )
            cdr.update(caller=outside, did=DID, target=ext, targetextension=ext, targetextension_name=name)
            if cdr["status"] in ("ANSWER", "answer"):
                cdr.update(
                    duration=rng.randint(20, 300),
                    dialtime=rng.randint(2, 15),
                    representative_code=code,
                    representative_name=name,
                )
            cdrs.append(cdr)
        elif kind == "outgoing":
            status = rng.choice(["ANSWER", "ANSWER", "BUSY", "NOANSWER", "CANCEL", "CONGESTION", "CHANUNAVAIL"])
            cdr = base(n, when, "Extension Outgoing", status)
            cdr.update(
                caller=DID,
                target=outside,
                callerextension=ext,
                callerextension_name=name,
                representative_code=code,
                representative_name=name,
                dialtime=rng.randint(2, 30),
                target_country="Israel" if outside.startswith("0") else "Abroad",
                duration=rng.randint(20, 400) if status == "ANSWER" else 0,
                price=rng.randint(1, 40) if status == "ANSWER" else 0,
            )
            cdrs.append(cdr)
        elif kind in ("c2c", "attended"):
            leg1_type, leg2_type = (
                ("Click2Call leg1", "Click2Call leg2") if kind == "c2c" else ("Attended CDR leg1", "Attended CDR leg2")
            )
            leg1 = base(n, when, leg1_type, "ANSWER")
            leg1.update(
                caller=DID,
                target=ext,
                callerextension=ext,
                representative_code=code,
                representative_name=name,
                dialtime=3,
                duration=5,
            )
            n += 1
            leg2 = base(n, when + timedelta(seconds=8), leg2_type, rng.choice(["ANSWER", "NOANSWER"]))
            leg2.update(
                caller=DID if kind == "c2c" else outside,
                target=outside if kind == "c2c" else ext,
                callerextension=ext,
                representative_code=code,
                representative_name=name,
                OriginalIvrUniqueID=leg1["ivruniqueid"],
                leg1DialStatusName="ANSWER",
                dialtime=6,
                duration=rng.randint(30, 200) if leg2["status"] == "ANSWER" else 0,
            )
            cdrs += [leg1, leg2]
        else:
            cdr = base(n, when, "VoiceMail", "VOICEMAIL")
            cdr.update(caller=outside, did=DID, duration=rng.randint(10, 60))
            cdrs.append(cdr)
    with_ai_analysis(cdrs, random.Random(2031))
    OUT.write_text("[\n" + ",\n".join(json.dumps(c, ensure_ascii=False) for c in cdrs) + "\n]\n")
    print(f"wrote {len(cdrs)} Voicenter CDRs to {OUT}")


if __name__ == "__main__":
    main()
