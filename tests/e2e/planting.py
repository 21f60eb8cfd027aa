"""Known phone numbers planted in every text field of every source's payload shapes, and a scan for them.

Each source gets its own South African mobile number, written in every way a person or a system writes one
(national, E.164, without the plus, with the 00 prefix, with dashes, dots, spaces and brackets, inside a word, as
DTMF input ending in #, said in a sentence). A payload is planted one text field at a time: each record is a
normal call of its source with exactly one field replaced, so that it still goes the whole way through the
pipeline, and one record per source has every text field planted at once. The Voicenter bodies carry the number
in the IVR layers (a layer name and the DTMF the caller keyed) and in an ``aiData`` block whose transcript says it.

The scan compares digit-only forms: a planted number is found wherever the last 7 digits of its national number
appear in the digits of a value (table cells: all digits of the cell; the report's page: each run of digits and
the separators a number is written with), whatever the format it was planted in.
"""

from __future__ import annotations

import copy
import csv
import io
import itertools
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

DAY = datetime(2026, 11, 20, tzinfo=UTC)
GREGORIAN = 62_167_219_200


@dataclass(frozen=True)
class Planted:
    """+27 <area> <middle> <last>: a South African mobile number."""

    area: str
    middle: str
    last: str

    @property
    def national(self) -> str:
        return f"0{self.area}{self.middle}{self.last}"

    @property
    def tail(self) -> str:
        """What the scan looks for: the last 7 digits, in any value's digits."""
        return (self.area + self.middle + self.last)[-7:]

    def writings(self) -> list[str]:
        a, m, la = self.area, self.middle, self.last
        return [
            f"0{a}{m}{la}",
            f"+27{a}{m}{la}",
            f"27{a}{m}{la}",
            f"0{a}-{m}-{la}",
            f"0027{a}{m}{la}",
            f"+27 {a} {m} {la}",
            f"(0{a}) {m} {la}",
            f"0{a}.{m}.{la}",
            f"ref0{a}{m}{la}x",  # digits inside a word
            f"0{a}{m}{la}#",  # DTMF keyed by the caller
            f"please call me back on 0{a} {m} {la} after five",
        ]

    def dtmf(self) -> str:
        return f"{self.national}#"

    def sentence(self) -> str:
        return f"Yes, my number is 0{self.area} {self.middle} {self.last}, call me back on it."


# One number per source, so that a find says which source's payload it came from. Tails chosen with 9s and 8s,
# which no clock time or date of the run can write.
NUMBERS = {
    "kazoo": Planted("82", "998", "9181"),
    "pbx": Planted("83", "998", "9282"),
    "enigma": Planted("84", "998", "9383"),
    "voicenter": Planted("72", "998", "9484"),
}


def _planted_variants(
    base: dict, fields: list[str], number: Planted, fresh, shaped: dict[str, str] | None = None
) -> list[dict]:
    """One record per field, that field holding the next writing of the number; one per ``shaped`` field, the
    number inside the value's usual shape (``{n}``); then one with every field."""
    writings = itertools.cycle(number.writings())
    records = []
    for field in fields:
        record = fresh(copy.deepcopy(base), len(records))
        record[field] = next(writings)
        records.append(record)
    for field, shape in (shaped or {}).items():
        record = fresh(copy.deepcopy(base), len(records))
        record[field] = shape.format(n=next(writings))
        records.append(record)
    every = fresh(copy.deepcopy(base), len(records))
    for field in fields:
        every[field] = next(writings)
    records.append(every)
    return records


# --- KAZOO: list rows -----------------------------------------------------------------------------------------

KAZOO_BASE = {
    "id": "202611-base",
    "call_id": "base",
    "caller_id_number": "+27115550100",
    "caller_id_name": "Caller Name",
    "callee_id_number": "1004",
    "callee_id_name": "Dev Patel",
    "duration_seconds": 70,
    "billing_seconds": 60,
    "timestamp": 0,
    "hangup_cause": "NORMAL_CLEARING",
    "hangup_code": "sip:200",
    "other_leg_call_id": "other-base",
    "owner_id": "u-dev",
    "to": "1004@demo.sip.example",
    "from": "+27115550100@demo.sip.example",
    "direction": "inbound",
    "request": "1004@demo.sip.example",
    "authorizing_id": "u-dev",
    "cost": "0",
    "dialed_number": "1004",
    "calling_from": "+27115550100",
    "datetime": "2026-11-20 10:00:00",
    "unix_timestamp": 0,
    "rfc_1036": "Fri, 20 Nov 2026 10:00:00 GMT",
    "iso_8601": "2026-11-20",
    "call_type": "",
    "rate": "0.0",
    "rate_name": "",
    "bridge_id": "bridge-base",
    "recording_url": "",
    "media_server": "fs1.demo.example",
    "call_priority": "",
    "interaction_id": "interaction-base",
}


def kazoo_rows() -> list[dict]:
    number = NUMBERS["kazoo"]
    # every text field, and billing_seconds, which list rows may send as text; timestamp and duration_seconds
    # are numbers (the simulator serves a row by them)
    fields = [k for k, v in KAZOO_BASE.items() if isinstance(v, str)] + ["billing_seconds"]

    def fresh(row: dict, n: int) -> dict:
        start = DAY + timedelta(hours=9, minutes=n)
        row.update(
            id=f"202611-plant-{n}",
            call_id=f"plant-{n}",
            interaction_id=f"interaction-plant-{n}",
            bridge_id=f"bridge-plant-{n}",
            timestamp=int(start.timestamp()) + GREGORIAN,
            unix_timestamp=int(start.timestamp()),
        )
        return row

    shaped = {
        "caller_id_name": "{n}",
        "to": "{n}@demo.sip.example",
        "request": "{n}@demo.sip.example",
        "hangup_code": "sip:{n}",
        "owner_id": "user-{n}",
    }
    return _planted_variants(KAZOO_BASE, fields, number, fresh, shaped)


# --- While1 PBX: /api/cdr rows ---------------------------------------------------------------------------------

PBX_BASE = {
    "id": "0",
    "uniqueid": "",
    "linkedid": "",
    "time": "",
    "time_end": "",
    "caller_id": '"Caller Name" <0213101010>',
    "source": "0213101010",
    "destination": "0312285000",
    "direction": "IN",
    "channel_formatted": "PJSIP/trunk-demo",
    "dstchannel_formatted": "PJSIP/elena-radu",
    "customer_id": "",
    "user_fullname": "Elena Radu",
    "qname": "Vanzari",
    "code": "inbound",
    "call_status": "ANSWERED",
    "call_status_info": "DS:ANSWER|HC:16|HI:SIP 200",
    "call_codes": "in answered",
    "accounting_code": "",
    "accounting_value": "",
    "comments": "",
    "monitor_files": "",
    "monitor_urls": "",
    "recording_file": "base.wav",
    "recording_url": "https://pbx.demo.example/recordings/base.wav",
    "transfers": "",
    "project": "Demo Contact Center",
    "inbound_route": "Main DID",
    "inbound_route_id": "1",
    "queue_log": "",
    "ivr_log": "",
    "external_id": "",
    "external_info": "",
    "agent_details": "",
    "is_recovered": "",
    "transcription_id": "",
    "transcription_text": "",
    "bill_duration": "00:01:00",
    "duration": "00:01:10",
    "bill_minutes": 1,
    "ivr_duration": "00:00:00",
    "hold_time": "00:00:05",
    "ring_time": "00:00:05",
}
# `time` is what the PBX filters on when asked for an interval: a row whose time is a phone number is not in any
# interval, so the PBX never sends it. (A row whose time_end is not a time is quarantined by the pull today.)
PBX_TIME_FIELDS = ("time",)


def pbx_rows() -> list[dict]:
    number = NUMBERS["pbx"]
    fields = [k for k, v in PBX_BASE.items() if isinstance(v, str) and k not in PBX_TIME_FIELDS]

    def fresh(row: dict, n: int) -> dict:
        # the PBX's wall clock is Bucharest's (UTC+2 in November)
        start = DAY + timedelta(hours=9, minutes=n)
        local = start + timedelta(hours=2)
        uniqueid = f"{int(start.timestamp())}.{n}"
        row.update(
            id=str(39000 + n),
            uniqueid=uniqueid,
            linkedid=uniqueid,
            time=local.strftime("%Y-%m-%d %H:%M:%S"),
            time_end=(local + timedelta(seconds=70)).strftime("%Y-%m-%d %H:%M:%S"),
        )
        return row

    # the trunk or phone a channel names, a caller ID whose name is the number, the codes of call_status_info
    shaped = {
        "channel_formatted": "PJSIP/{n}",
        "dstchannel_formatted": "PJSIP/{n}-0000001a",
        "caller_id": '"{n}" <0213101010>',
        "call_status_info": "DS:{n}|HC:{n}|HI:SIP 200 {n}",
        "user_fullname": "Agent {n}",
        "qname": "Queue {n}",
    }
    return _planted_variants(PBX_BASE, fields, number, fresh, shaped)


# --- Enigma: campaign CDR messages and the deprecated c2d notifications -----------------------------------------

ENIGMA_PAYLOAD = {
    "extension": "3003",
    "number": "0115550199",
    "call_ref": "base",
    "contact_ref": "CUST-00001",
    "dialed_at": "",
    "end_reason": "ANSWERED",
    "end_code": "200",
    "call_time": "60",
    "call_dir": "outbound",
    "recording_url": "ftp://dialer.demo.example/rec/base.wav",
    "ref": "WINTER-SALES",
    "disposition": "ANSWERED",
}
ENIGMA_C2D = {"extension": "3001", "disposition": "ANSWERED", "call_ref": "base", "end_code": "16", "recording_url": ""}


def enigma_messages() -> list[tuple[str, str]]:
    """(Redis key, message) pairs, oldest first."""
    number = NUMBERS["enigma"]

    def fresh_payload(payload: dict, n: int) -> dict:
        payload.update(call_ref=f"ENG-PLANT-{n}", dialed_at=(DAY + timedelta(hours=11, minutes=n)).isoformat())
        return payload

    messages = [
        ("enigma:notifications:campaigns", json.dumps({"type": "cdr", "payload": payload}))
        for payload in _planted_variants(ENIGMA_PAYLOAD, list(ENIGMA_PAYLOAD), number, fresh_payload)
    ]
    # the message's own type word
    typed = fresh_payload(copy.deepcopy(ENIGMA_PAYLOAD), 100)
    messages.append(("enigma:notifications:campaigns", json.dumps({"type": number.national, "payload": typed})))

    def fresh_c2d(item: dict, n: int) -> dict:
        item.update(call_ref=f"C2D-PLANT-{n}")
        return item

    items = _planted_variants(ENIGMA_C2D, list(ENIGMA_C2D), number, fresh_c2d)
    messages += [
        ("enigma:notifications:c2d", json.dumps({"notifications": items[i : i + 2]})) for i in range(0, len(items), 2)
    ]
    return messages


# --- Voicenter: webhook bodies ----------------------------------------------------------------------------------

VOICENTER_BASE = {
    "ivruniqueid": "base",
    "type": "Queue",
    "status": "ANSWER",
    "leg1DialStatusName": "",
    "time": 0,
    "duration": 60,
    "dialtime": 5,
    "caller": "0501234567",
    "target": "SIPDANA",
    "targetextension": "SIPDANA",
    "callerextension": "",
    "did": "0722776772",
    "queueid": "1234567",
    "queuename": "Sales Queue",
    "record": "https://cpanel.voicenter.co.il/CallsHistory/PlayRecord/base.mp3",
    "price": 0,
    "representative_name": "Dana Mizrahi",
    "representative_code": "9996",
    "targetextension_name": "Dana Mizrahi",
    "callerextension_name": "",
    "target_country": "",
    "caller_country": "Israel",
    "seconds_waiting_in_queue": 5,
    "OriginalIvrUniqueID": "",
    "DepartmentID": 12345678,
    "DepartmentName": "Demo Sales",
    "TopDepartmentID": 87654321,
    "TopDepartmentName": "Demo Account",
    "IVR": [
        {"layer_id": 1234, "layer_name": "Main IVR", "layer_number": 0, "Dtmf": 2, "dtmf_order": 1},
        {"layer_id": 4321, "layer_name": "Sales Department", "layer_number": 2, "Dtmf": 0, "dtmf_order": 2},
    ],
}


def ai_data(number: Planted) -> dict:
    """Voicenter's aiData block (the vendor's sample's shape) whose transcript and summary say the number."""
    return {
        "insights": {
            "questions": [{"key": "callback", "question": "Callback number?", "answer": number.national}],
            "participants": {"caller": {"name": f"caller {number.national}", "personality_traits": []}},
            "summary": f"The caller asked to be called back on {number.writings()[5]}.",
        },
        "emotions": {"sentences": [{"sentence_id": 1, "emotion": "calm", "confidence_emotion": 0.9}]},
        "transcript": [
            {"speaker": "Speaker1", "text": number.sentence(), "startTime": 1.5, "endTime": 4.0, "sentence_id": 1}
        ],
    }


def voicenter_cdrs() -> tuple[list[dict], list[dict]]:
    """(bodies the receiver must take, bodies with an aiData object it may refuse as not a CDR today)."""
    number = NUMBERS["voicenter"]
    fields = [k for k, v in VOICENTER_BASE.items() if isinstance(v, str)]

    def fresh(cdr: dict, n: int) -> dict:
        cdr.update(ivruniqueid=f"2026112009{n:04d}PLANT", time=int((DAY + timedelta(hours=10, minutes=n)).timestamp()))
        return cdr

    cdrs = _planted_variants(VOICENTER_BASE, fields, number, fresh)
    n = itertools.count(len(cdrs))
    # the caller's DTMF and a layer named after the number; an IVR sent as a JSON string (as a form sends it)
    keyed = fresh(copy.deepcopy(VOICENTER_BASE), next(n))
    keyed["IVR"] = [
        {"layer_id": 1234, "layer_name": "Main IVR", "layer_number": 0, "Dtmf": 1, "dtmf_order": 1},
        {"layer_id": 5555, "layer_name": "Account number", "layer_number": 3, "Dtmf": number.dtmf(), "dtmf_order": 2},
        {
            "layer_id": 4321,
            "layer_name": f"Callback {number.writings()[3]}",
            "layer_number": 2,
            "Dtmf": number.national,
            "dtmf_order": 3,
        },
    ]
    as_text = fresh(copy.deepcopy(VOICENTER_BASE), next(n))
    as_text["IVR"] = json.dumps([{"layer_id": 77, "layer_name": number.writings()[6], "Dtmf": number.dtmf()}])
    # an abandoned call from the number: on the report's call-back list
    abandoned = fresh(copy.deepcopy(VOICENTER_BASE), next(n))
    abandoned.update(status="ABANDONE", caller=number.national, duration=0)
    # aiData may arrive as a JSON string: text in a known shape, so a CDR
    ai_text = fresh(copy.deepcopy(VOICENTER_BASE), next(n))
    ai_text["aiData"] = json.dumps(ai_data(number))
    ai_object = fresh(copy.deepcopy(VOICENTER_BASE), next(n))
    ai_object["aiData"] = ai_data(number)
    return [*cdrs, keyed, as_text, abandoned, ai_text], [ai_object]


# --- the scan ---------------------------------------------------------------------------------------------------


def digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def found_in(text: str) -> list[str]:
    """The sources whose planted number is in ``text`` (its digits)."""
    only = digits(text)
    return [source for source, number in NUMBERS.items() if number.tail in only]


def leaks_in_database(con, database: str | None = None) -> list[tuple[str, str, str, str]]:
    """Every (source, table, column, value) of the attached database whose value's digits hold a planted number.
    Times and dates are left out: a number cannot be written as one, and their digits (microseconds) are noise."""
    where = f"database_name = '{database}'" if database else "database_name = current_database()"
    columns = con.execute(
        f"select schema_name, table_name, column_name, data_type from duckdb_columns() where {where} "
        "and data_type not like 'TIMESTAMP%' and data_type not in ('DATE', 'TIME', 'INTERVAL') order by all"
    ).fetchall()
    prefix = f'"{database}".' if database else ""
    leaks = []
    for schema, table, column, _ in columns:
        for (value,) in con.execute(
            f'select distinct "{column}"::varchar from {prefix}"{schema}"."{table}" '
            f"where regexp_matches(\"{column}\"::varchar, '[0-9]')"
        ).fetchall():
            leaks += [(source, f"{schema}.{table}", column, value) for source in found_in(value)]
    return leaks


def leaks_in_bytes(path: Path) -> list[tuple[str, str]]:
    data = path.read_bytes()
    return [
        (source, writing)
        for source, number in NUMBERS.items()
        for writing in {number.tail, *number.writings()}
        if writing.encode() in data
    ]


class _PageText(HTMLParser):
    """Every text node and attribute value of a page (the charts' drawing coordinates left out)."""

    # the charts' coordinates: runs of digits, dots and spaces that are no number anyone wrote
    GEOMETRY = frozenset({"d", "points", "transform", "viewbox", "stroke-dasharray"})

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value and name not in self.GEOMETRY:
                self.parts.append(value)

    def handle_data(self, data):
        self.parts.append(data)


def _number_runs(text: str) -> list[str]:
    """The runs of digits and of what numbers are written with, each as its digits."""
    return [digits(run) for run in re.findall(r"[0-9][0-9 ()+./#\-]*", text)]


def leaks_in_report(directory: Path) -> list[tuple[str, str, str]]:
    """(source, file, value) for every planted number in the report's CSV cells and page."""
    leaks = []
    for path in sorted(directory.glob("*.csv")):
        for row in csv.reader(io.StringIO(path.read_text())):
            for cell in row:
                leaks += [(source, path.name, cell) for source in found_in(cell)]
    for path in sorted(directory.glob("*.html")):
        page = _PageText()
        page.feed(path.read_text())
        for part in page.parts:
            for run in _number_runs(part):
                leaks += [(source, path.name, part[:200]) for source, n in NUMBERS.items() if n.tail in run]
    return leaks
