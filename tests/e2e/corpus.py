"""Payload corpora for the four sources: every leg shape and every vocabulary, in the spellings real deployments
send, with the answer each leg must get computed here from its shape and the vendors' documents.

Nothing here reads the project's mappings: the expected direction, status and remote country of a leg come from
the rule tables below, written from the vendor documents and the issue that asked for them (issue 11). Every
leg is keyed by its source id; ``expected`` maps it to ``(direction, status, remote_country)``. Words no one
knows are in ``unknown``: ``(source, field, raw value) -> legs`` that marts.dq_unmapped must count.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

DAY = datetime(2026, 11, 20, tzinfo=UTC)
GREGORIAN = 62_167_219_200

# Outside parties with the country libphonenumber gives them (written internationally).
OUTSIDE = [
    ("+442079460321", "GB"),
    ("+27821234567", "ZA"),
    ("+4930123456789", "DE"),
    ("+972501234567", "IL"),
    ("+33142868200", "FR"),
    ("+61291234567", "AU"),
    ("+40721234567", "RO"),
    ("+12125550123", "US"),
]


def spellings(word: str) -> list[str]:
    """The ways a deployment writes one word: as documented, lower, title case, other separators."""
    spaced = word.replace("_", " ")
    return sorted(
        {
            word,
            word.lower(),
            spaced.title(),
            spaced.lower(),
            word.replace("_", "-").lower(),
            spaced.upper().replace(" ", "_"),
        }
    )


@dataclass
class Corpus:
    records: list = field(default_factory=list)
    expected: dict[str, tuple[str, str, str | None]] = field(default_factory=dict)
    unknown: dict[tuple[str, str, str], int] = field(default_factory=dict)

    def expect(self, key: str, direction: str, status: str, remote: str | None) -> None:
        assert key not in self.expected, key
        self.expected[key] = (direction, status, remote)

    def count_unknown(self, source: str, field_name: str, value: str) -> None:
        self.unknown[(source, field_name, value)] = self.unknown.get((source, field_name, value), 0) + 1


def sip_status(code: int) -> str | None:
    """RFC 3261 final responses as the issue states the rule."""
    if 200 <= code < 300:
        return "answered"
    if code in (486, 600):
        return "busy"
    if code in (408, 480):
        return "no_answer"
    if code == 487:
        return "cancelled"
    if 300 <= code < 700:
        return "failed"
    return None


# Asterisk's words (dial statuses and CDR dispositions), used by the Enigma dialer and the While1 PBX.
ASTERISK = {
    "ANSWER": "answered",
    "NOANSWER": "no_answer",
    "BUSY": "busy",
    "CANCEL": "cancelled",
    "CONGESTION": "failed",
    "CHANUNAVAIL": "failed",
    "DONTCALL": "busy",
    "TORTURE": "busy",
    "INVALIDARGS": "failed",
    "ANSWERED": "answered",
    "NO ANSWER": "no_answer",
    "FAILED": "failed",
}


# --- KAZOO -------------------------------------------------------------------------------------------------

KAZOO_DID = "+18005550100"
# FreeSWITCH hangup causes of an unbilled leg, and their status.
KAZOO_CAUSES = {
    "NORMAL_CLEARING": "no_answer",
    "ORIGINATOR_CANCEL": "cancelled",
    "USER_BUSY": "busy",
    "CALL_REJECTED": "busy",
    "NO_ANSWER": "no_answer",
    "NO_USER_RESPONSE": "no_answer",
    "UNALLOCATED_NUMBER": "failed",
    "NORMAL_TEMPORARY_FAILURE": "failed",
    "LOSE_RACE": "cancelled",
    "ALLOTTED_TIMEOUT": "no_answer",
    "SUBSCRIBER_ABSENT": "failed",
    "PICKED_OFF": "cancelled",
    "NO_ROUTE_DESTINATION": "failed",
    "GATEWAY_DOWN": "failed",
    "MEDIA_TIMEOUT": "failed",
}
KAZOO_Q850 = {"17": "busy", "19": "no_answer", "1": "failed", "21": "busy", "34": "failed"}


def kazoo_corpus() -> Corpus:
    rng = random.Random(11)
    corpus = Corpus()
    seq = itertools.count(1)

    def leg(
        shape,
        direction,
        caller,
        callee,
        *,
        billing,
        cause,
        owner=None,
        authorizing=None,
        status,
        remote,
        caller_name="",
        callee_name="",
        hangup_code=None,
    ):
        n = next(seq)
        start = DAY + timedelta(hours=8, seconds=97 * n)
        row = {
            "id": f"202611-corpus-{n:04d}-{shape}",
            "call_id": f"c{n}",
            "interaction_id": f"i{n // 2}",
            "caller_id_number": caller,
            "caller_id_name": caller_name,
            "callee_id_number": callee,
            "callee_id_name": callee_name,
            "duration_seconds": billing + 5,
            "billing_seconds": billing,
            "timestamp": int(start.timestamp()) + GREGORIAN,
            "hangup_cause": cause,
            "direction": direction,
            "owner_id": owner,
            "authorizing_id": authorizing,
            "recording_url": "",
            "bridge_id": f"c{n}",
        }
        if hangup_code:
            row["hangup_code"] = hangup_code
        corpus.records.append(row)
        corpus.expect(row["id"], *status_and_direction(status, remote))
        return row

    def status_and_direction(pair, remote):
        return pair[0], pair[1], remote

    for outside, country in OUTSIDE:
        national_did = KAZOO_DID[2:]  # the DID as a carrier may write it, without +1
        talk = rng.randint(10, 300)
        # inbound: carrier to switch, switch to the agent's phone
        leg(
            "in-carrier",
            "inbound",
            outside,
            KAZOO_DID,
            billing=talk,
            cause="NORMAL_CLEARING",
            status=("inbound", "answered"),
            remote=country,
        )
        leg(
            "in-device",
            "outbound",
            outside,
            "1001",
            owner="u-ana",
            callee_name="Ana",
            billing=talk,
            cause="NORMAL_CLEARING",
            status=("inbound", "answered"),
            remote=country,
        )
        # outbound: the phone to the switch, then the switch to the carrier with the agent's owner_id copied on
        leg(
            "out-device",
            "inbound",
            "1002",
            outside,
            owner="u-ben",
            caller_name="Ben",
            billing=0,
            cause="USER_BUSY",
            status=("outbound", "busy"),
            remote=country,
        )
        leg(
            "out-carrier-owner",
            "outbound",
            KAZOO_DID,
            outside,
            owner="u-ben",
            caller_name="ACME",
            billing=0,
            cause="USER_BUSY",
            status=("outbound", "busy"),
            remote=country,
        )
        # ... or with authorizing_id only, the DID written nationally
        leg(
            "out-carrier-auth",
            "outbound",
            national_did,
            outside,
            authorizing="dev-1",
            billing=talk,
            cause="NORMAL_CLEARING",
            status=("outbound", "answered"),
            remote=country,
        )
        # forwarded to an outside number: switch to the agent's mobile
        leg(
            "forward",
            "outbound",
            outside,
            "+12125550199",
            owner="u-ana",
            billing=talk,
            cause="NORMAL_CLEARING",
            status=("outbound", "answered"),
            remote="US",
        )
        # voicemail, and a conference
        leg(
            "voicemail",
            "outbound",
            outside,
            "*97",
            callee_name="Voicemail",
            owner="u-ana",
            billing=20,
            cause="NORMAL_CLEARING",
            status=("inbound", "voicemail"),
            remote=country,
        )
        leg(
            "conference",
            "inbound",
            outside,
            "conference",
            billing=talk,
            cause="NORMAL_CLEARING",
            status=("inbound", "answered"),
            remote=country,
        )
    # internal, both legs; an agent's phone joins a conference
    for a, b in (("1001", "1002"), ("1003", "1004")):
        leg(
            "internal-a",
            "inbound",
            a,
            b,
            owner="u-a",
            billing=30,
            cause="NORMAL_CLEARING",
            status=("internal", "answered"),
            remote=None,
        )
        leg(
            "internal-b",
            "outbound",
            a,
            b,
            owner="u-b",
            billing=30,
            cause="NORMAL_CLEARING",
            status=("internal", "answered"),
            remote=None,
        )
    leg(
        "conf-agent",
        "inbound",
        "1003",
        "conference",
        owner="u-c",
        billing=40,
        cause="NORMAL_CLEARING",
        status=("internal", "answered"),
        remote=None,
    )
    # every cause in every spelling, on unbilled inbound carrier legs
    outside_cycle = itertools.cycle(OUTSIDE)
    for cause, status in KAZOO_CAUSES.items():
        for spelling in spellings(cause):
            outside, country = next(outside_cycle)
            leg(
                "cause",
                rng.choice(["inbound", "INBOUND", "Inbound"]),
                outside,
                KAZOO_DID,
                billing=0,
                cause=spelling,
                status=("inbound", status),
                remote=country,
            )
    for number, status in KAZOO_Q850.items():
        outside, country = next(outside_cycle)
        leg("q850", "inbound", outside, KAZOO_DID, billing=0, cause=number, status=("inbound", status), remote=country)
    # causes nobody knows: the SIP answer decides where there is one, else other; each counted
    for word, code in (("BRAND_NEW_CAUSE", "sip:486"), ("Brand New Cause", None), ("weird", "sip:480")):
        outside, country = next(outside_cycle)
        status = sip_status(int(code[4:])) if code else "other"
        leg(
            "unknown-cause",
            "inbound",
            outside,
            KAZOO_DID,
            billing=0,
            cause=word,
            hangup_code=code,
            status=("inbound", status),
            remote=country,
        )
        corpus.count_unknown("kazoo", "hangup_cause", word)
    return corpus


# --- While1 PBX -----------------------------------------------------------------------------------------------

PBX_TZ = ZoneInfo("Europe/Bucharest")
PBX_DID = "0312285000"
PBX_STATUSES = {
    "ANSWERED": "answered",
    "NO ANSWER": "no_answer",
    "BUSY": "busy",
    "FAILED": "failed",
    "CONGESTION": "failed",
}
PBX_DIRECTIONS = {"IN": "inbound", "OUT": "outbound"}


def pbx_corpus() -> Corpus:
    corpus = Corpus()
    seq = itertools.count(1)
    outside_cycle = itertools.cycle(OUTSIDE)

    def row(
        direction_word, status_word, *, caller, destination, bill, expected, remote, info="", queue=None, code=None
    ):
        n = next(seq)
        start = DAY + timedelta(hours=9, seconds=61 * n)
        local = start.astimezone(PBX_TZ)
        hms = lambda s: f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"  # noqa: E731
        record = {
            "id": str(40000 + n),
            "uniqueid": f"{int(start.timestamp())}.{n}",
            "linkedid": f"{int(start.timestamp())}.{n}",
            "time": local.strftime("%Y-%m-%d %H:%M:%S"),
            "time_end": (local + timedelta(seconds=bill + 5)).strftime("%Y-%m-%d %H:%M:%S"),
            "caller_id": f'"X" <{caller}>',
            "source": caller,
            "destination": destination,
            "direction": direction_word,
            "code": code,
            "channel_formatted": "PJSIP/ana-pop",
            "dstchannel_formatted": "",
            "user_fullname": "Ana Pop",
            "qname": queue,
            "call_status": status_word,
            "call_status_info": info,
            "bill_duration": hms(bill),
            "duration": hms(bill + 5),
            "ring_time": "00:00:05",
            "hold_time": "00:00:00",
            "ivr_duration": "00:00:00",
            "recording_url": None,
        }
        corpus.records.append(record)
        corpus.expect(record["id"], expected[0], expected[1], remote)

    for status_word, status in PBX_STATUSES.items():
        for spelling in spellings(status_word):
            for direction_word, direction in PBX_DIRECTIONS.items():
                outside, country = next(outside_cycle)
                word = direction_word if len(corpus.records) % 2 else direction_word.lower()
                inbound = direction == "inbound"
                row(
                    word,
                    spelling,
                    caller=outside if inbound else PBX_DID,
                    destination=PBX_DID if inbound else outside,
                    bill=40 if status == "answered" else 0,
                    expected=(direction, status),
                    remote=country,
                )
    # an unknown call_status: the dial status of call_status_info speaks, in any case
    for dial, status in ASTERISK.items():
        if " " in dial:
            continue
        outside, country = next(outside_cycle)
        row(
            "OUT",
            "SOMETHING_NEW",
            caller=PBX_DID,
            destination=outside,
            bill=0,
            info=f"DS:{dial.lower()}|HC:16|HI:",
            expected=("outbound", status),
            remote=country,
        )
        corpus.count_unknown("pbx", "call_status", "SOMETHING_NEW")
    # unknown status and dial status: the SIP answer, then Q.850, then nothing
    outside, country = next(outside_cycle)
    row(
        "OUT",
        "Whatever",
        caller=PBX_DID,
        destination=outside,
        bill=0,
        info="DS:NEWDS|HC:34|HI:SIP 486 Busy Here",
        expected=("outbound", "busy"),
        remote=country,
    )
    corpus.count_unknown("pbx", "call_status", "Whatever")
    corpus.count_unknown("pbx", "dial_status", "NEWDS")
    outside, country = next(outside_cycle)
    row(
        "OUT",
        "Whatever",
        caller=PBX_DID,
        destination=outside,
        bill=0,
        info="HC:17",
        expected=("outbound", "busy"),
        remote=country,
    )
    corpus.count_unknown("pbx", "call_status", "Whatever")
    # an unanswered inbound call from a queue: abandoned
    outside, country = next(outside_cycle)
    row(
        "in",
        "no answer",
        caller=outside,
        destination=PBX_DID,
        bill=0,
        queue="Suport",
        expected=("inbound", "abandoned"),
        remote=country,
    )
    # two extensions: internal
    row(
        "OUT",
        "ANSWERED",
        caller="201",
        destination="202",
        bill=30,
        code="internal",
        expected=("internal", "answered"),
        remote=None,
    )
    return corpus


# --- Enigma ---------------------------------------------------------------------------------------------------

ENIGMA_OWN_WORDS = {
    "VOICEMAIL": "voicemail",
    "ANSWERING_MACHINE": "voicemail",
    "ABANDONED": "abandoned",
    "CANCELLED": "cancelled",
}
ENIGMA_DIRECTIONS = {"inbound": "inbound", "Outbound": "outbound", "OUT": "outbound", "IN": "inbound"}


def enigma_corpus() -> Corpus:
    """Messages as (key, raw JSON) pairs."""
    import json

    corpus = Corpus()
    seq = itertools.count(1)
    outside_cycle = itertools.cycle(OUTSIDE)
    directions = itertools.cycle(ENIGMA_DIRECTIONS.items())

    def cdr(word, *, code=None, call_time=0, extension="3001", expected_status):
        n = next(seq)
        outside, country = next(outside_cycle)
        dir_word, direction = next(directions)
        ref = f"CORPUS-{n:04d}"
        payload = {
            "extension": extension,
            "number": outside,
            "call_ref": ref,
            "dialed_at": (DAY + timedelta(hours=10, seconds=53 * n)).isoformat(),
            "end_reason": word,
            "end_code": None if code is None else str(code),
            "call_time": call_time,
            "call_dir": dir_word,
            "recording_url": None,
            "ref": "CORPUS",
        }
        corpus.records.append(("enigma:notifications:campaigns", json.dumps({"type": "cdr", "payload": payload})))
        corpus.expect(ref, direction, expected_status, country)

    for word, status in {**ASTERISK, **ENIGMA_OWN_WORDS}.items():
        for spelling in spellings(word):
            cdr(spelling, call_time=30 if status == "answered" else 0, expected_status=status)
    for code in (200, 486, 600, 408, 480, 487, 404, 484, 503, 603):
        cdr("DIALER_SAYS_WHAT", code=code, expected_status=sip_status(code))
        corpus.count_unknown("enigma", "end_reason", "DIALER_SAYS_WHAT")
    cdr("no_idea", call_time=25, expected_status="answered")
    corpus.count_unknown("enigma", "end_reason", "no_idea")
    cdr("no_idea", expected_status="other")
    corpus.count_unknown("enigma", "end_reason", "no_idea")
    # the callee hung up in the queue before reaching an agent: abandoned, whatever the word
    cdr("ANSWER", extension=None, call_time=0, expected_status="abandoned")
    return corpus


# --- Voicenter ------------------------------------------------------------------------------------------------

VOICENTER_TYPES = {
    "Incoming Call": "inbound",
    "Queue": "inbound",
    "Extension Outgoing": "outbound",
    "Click2Call leg2": "outbound",
    "VoiceMail": "inbound",
    "Auto forward": "outbound",
}
VOICENTER_STATUSES = {
    "ANSWER": "answered",
    "BUSY": "busy",
    "NOANSWER": "no_answer",
    "CANCEL": "cancelled",
    "ABANDONE": "abandoned",
    "VOEND": "abandoned",
    "NOTDIALED": "cancelled",
    "NOTCALLED": "failed",
    "VOICEMAIL": "voicemail",
    "CONGESTION": "failed",
    "CHANUNAVAIL": "failed",
    "INVALIDARGS": "failed",
    "SSWPREAUTH": "failed",
    "TIMEOUT": "abandoned",
    "EXIT": "abandoned",
    "FULL": "failed",
    "JOINEMPTY": "failed",
}
VOICENTER_DID = "0722776772"


def voicenter_corpus() -> Corpus:
    corpus = Corpus()
    seq = itertools.count(1)
    outside_cycle = itertools.cycle(OUTSIDE)
    types = itertools.cycle(VOICENTER_TYPES.items())

    def cdr(type_word, status_word, *, direction, status, leg1=None, duration=0, caller_ext=None, did=None):
        n = next(seq)
        outside, country = next(outside_cycle)
        inbound = direction == "inbound"
        record = {
            "ivruniqueid": f"corpus{n:05d}",
            "type": type_word,
            "status": status_word,
            "caller": outside.lstrip("+") if inbound else VOICENTER_DID,
            "target": "" if inbound else outside.lstrip("+"),
            "time": int((DAY + timedelta(hours=11, seconds=47 * n)).timestamp()),
            "duration": duration,
            "dialtime": 3,
            "did": (did or VOICENTER_DID) if inbound else "",
            "callerextension": caller_ext or ("" if inbound else "SIPSIP"),
            "targetextension": "",
        }
        if leg1 is not None:
            record["leg1DialStatusName"] = leg1
        corpus.records.append(record)
        corpus.expect(record["ivruniqueid"], direction, status, country)

    for word, status in VOICENTER_STATUSES.items():
        for spelling in spellings(word):
            type_word, direction = next(types)
            type_spelling = [type_word, type_word.lower(), type_word.upper().replace(" ", "_")][len(corpus.records) % 3]
            cdr(type_spelling, spelling, direction=direction, status=status, duration=20 if status == "answered" else 0)
    # a type nobody knows: the extensions and the DID decide; a status nobody knows: leg 1's, then talk time
    cdr("Brand New Type", "NEWSTATUS", leg1="busy", direction="outbound", status="busy", caller_ext="SIPSIP")
    corpus.count_unknown("voicenter", "type", "Brand New Type")
    corpus.count_unknown("voicenter", "status", "NEWSTATUS")
    cdr("Brand New Type", "NEWSTATUS", direction="inbound", status="answered", duration=12)
    corpus.count_unknown("voicenter", "type", "Brand New Type")
    corpus.count_unknown("voicenter", "status", "NEWSTATUS")
    cdr("Queue", "NEWSTATUS", direction="inbound", status="other")
    corpus.count_unknown("voicenter", "status", "NEWSTATUS")
    return corpus
