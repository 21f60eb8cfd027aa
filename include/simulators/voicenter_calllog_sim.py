"""A Voicenter Call Log API (``/hub/cdr/``) simulator, for the demo and the tests.

It serves the API as voicenter-call-log.md describes it, including the points the sources disagree on:
- POST with a JSON body, filters inside ``search`` or at the top level (both shapes; ``search`` wins), or GET
  with repeated (``fields=Date&fields=Type``) or PHP-style (``fields[0]=Date``) keys; ``code`` in the body or
  query, or ``Authorization: Bearer <code>``.
- ``fromdate``/``todate`` in ISO 8601 at GMT 0 (``...Z``, an offset, none, ``YYYY-MM-DDTHH:MM`` and
  ``YYYY-MM-DD HH:MM:SS``), matched on the record's ``Date`` inclusive of both ends (the vendor does not say;
  inclusive makes a client's de-duplication at window edges matter). ``phones``, ``extensions``, ``callID``
  and ``cdrTypes`` filter too; ``fields`` picks the fields returned (all when absent); ``sort`` by date.
- At most ``cap`` CDRs an answer (10,000; ``--cap`` or control ``cap``), with ``TOTAL_HITS`` the number of
  matches and ``RETURN_HITS`` the number returned. No paging.
- The vendor's errors: 1 rate limited (more than ``rate_limit.requests`` in ``rate_limit.seconds``, 30 a
  minute by default; refused requests do not count), 2 invalid code, 4 IP not authorized (control
  ``allowed_ips``), 5 date range invalid. ``STATUS_CODE`` is also the HTTP status, unless control
  ``errors_as_http_200`` is true. Control ``errors`` (a list of numbers) answers one per request, first.
- Key casing: ``--key-case vendor`` (``CallID``, ``ERROR_NUMBER``) or ``lower`` (every top-level key of the
  envelope and of each record in lower case, nested keys as they are, as seen in real answers).
- A CDR appears once its call has ended plus control ``delay_seconds`` (default 0) by the simulator's clock
  (control ``now``, Unix seconds; the real clock otherwise). Control ``omit`` lists CallIDs the log lacks.

It is fed the same CDRs the Voicenter demo posts (include/demo_data/voicenter_cdrs.json), each converted to
a log record by ``to_log_record``; a file of log records (with ``CallID``) is served as it is. The webhook's
``time`` is Israel's wall-clock time written as epoch seconds (as the vendor's examples show), so ``Date`` is that
wall-clock time read in Asia/Jerusalem, in UTC (``--webhook-zone UTC`` for an account that sends true epochs).
``GET /__stats`` adds ``rate_limited``, ``answers_full`` and ``queries`` (each request's window and counts);
control ``clear_stats`` zeroes them and the rate limit's window.

Run: python include/simulators/voicenter_calllog_sim.py --port 8002 [--data FILE] [--code C] [--cap N]
     [--key-case vendor|lower] [--rate-limit N]
"""

from __future__ import annotations

import json
import re
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

from simbase import SimHandler, SimState, arg_parser, make_server, serve_forever

DEFAULT_DATA = Path(__file__).resolve().parents[1] / "demo_data" / "voicenter_cdrs.json"
PATHS = {"/hub/cdr", "/hub/cdr/"}
STATUS = {0: 200, 1: 403, 2: 403, 4: 403, 5: 404}
DESCRIPTION = {
    0: "OK",
    1: "Rate limit exceeded",
    2: "Authorization failed, invalid code",
    4: "IP not authorized",
    5: "Date range invalid",
}
# The vendor's help texts' CdrType ids, by the webhook's type names.
TYPE_IDS = {
    "Incoming Call": 1,
    "CC": 2,
    "Extension Outgoing": 4,
    "Queue": 8,
    "Click2Call leg1": 9,
    "Click2Call leg2": 10,
    "VoiceMail": 11,
    "Callference": 12,
    "XferCDR": 13,
    "ProductiveCallLeg1": 14,
    "ProductiveCallLeg2": 15,
    "Scrubber": 16,
    "Click 2 IVR": 17,
    "Click 2 IVR Incoming": 18,
    "Click 2 Queue Incoming": 19,
    "FaxCdr": 20,
    "Attended CDR leg1": 21,
    "Attended CDR leg2": 22,
    "Auto forward": 23,
}


WEBHOOK_ZONE = ["Asia/Jerusalem"]


def webhook_instant(wall_epoch: int) -> datetime:
    """The true instant of a webhook ``time`` (the wall clock of WEBHOOK_ZONE written as epoch seconds)."""
    wall = datetime.fromtimestamp(wall_epoch, UTC).replace(tzinfo=None)
    return wall.replace(tzinfo=ZoneInfo(WEBHOOK_ZONE[0])).astimezone(UTC)


def iso_utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def to_log_record(cdr: dict) -> dict:
    """A webhook CDR as the Call Log lists it (voicenter-call-log.md section 3). The webhook's ``time`` is
    taken as Unix seconds, so ``Date`` is that instant in ISO 8601 UTC."""
    if "CallID" in cdr:
        return dict(cdr)
    ivr = cdr.get("IVR")
    if isinstance(ivr, str):
        ivr = json.loads(ivr) if ivr.strip() else []
    custom = {"OriginalIvrUniqueID": cdr["OriginalIvrUniqueID"]} if cdr.get("OriginalIvrUniqueID") else {}
    return {
        "CallerNumber": cdr.get("caller", ""),
        "TargetNumber": cdr.get("target", ""),
        "Date": iso_utc(webhook_instant(int(cdr["time"]))),
        "DateEpoch": int(webhook_instant(int(cdr["time"])).timestamp()),
        "Duration": cdr.get("duration", 0),
        "CallID": cdr["ivruniqueid"],
        "Type": cdr.get("type", ""),
        "CdrType": TYPE_IDS.get(cdr.get("type")),
        "DialStatus": cdr.get("status", ""),
        "DialStatus2": cdr.get("leg1DialStatusName", ""),
        "TargetExtension": cdr.get("targetextension", ""),
        "CallerExtension": cdr.get("callerextension", ""),
        "DID": cdr.get("did", ""),
        "QueueName": cdr.get("queuename", ""),
        "RecordURL": cdr.get("record", ""),
        "RecordExpect": bool(cdr.get("record")),
        "Price": cdr.get("price", 0),
        "RingTime": cdr.get("dialtime", 0),
        "RepresentativeName": cdr.get("representative_name", ""),
        "RepresentativeCode": cdr.get("representative_code", ""),
        "UserName": cdr.get("representative_name", ""),
        "UserId": cdr.get("representative_code", ""),
        "DTMFData": [
            {"LayerName": layer.get("layer_name"), "DTMF": layer.get("Dtmf"), "LayerNumber": layer.get("layer_number")}
            for layer in (ivr or [])
        ],
        "CustomData": custom,
        "DepartmentName": cdr.get("DepartmentName", ""),
        "DepartmentId": cdr.get("DepartmentID"),
        "TargetPrefixName": cdr.get("target_country", ""),
    }


def parse_date(text) -> datetime | None:
    if not isinstance(text, str) or not text.strip():
        return None
    text = text.strip()
    if text[-1:] in "Zz":
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def ended(record: dict) -> float:
    return (
        parse_date(record["Date"]).timestamp() + float(record.get("RingTime") or 0) + float(record.get("Duration") or 0)
    )


class State(SimState):
    def __init__(self, cdrs, code, cap, key_case, rate_limit):
        super().__init__()
        self.records = [to_log_record(c) for c in cdrs]
        self.code, self.cap, self.key_case = code, cap, key_case
        self.rate_limit = {"requests": rate_limit, "seconds": 60.0}
        self.recent: deque[float] = deque()
        self.queries: list[dict] = []
        self.stats.update({"rate_limited": 0, "answers_full": 0, "unauthorized": 0})


def list_param(params: dict, name: str) -> list | None:
    value = params.get(name)
    if value is None:
        return None
    return value if isinstance(value, list) else [value]


class Handler(SimHandler):
    server_version = "VoicenterCallLogSimulator/1.0"
    name = "voicenter-calllog-sim"

    def on_control(self, control: dict) -> None:
        if control.pop("clear_stats", False):  # a fresh start for a test: counters, queries, rate window
            for name in self.state.stats:
                self.state.stats[name] = 0
            self.state.queries.clear()
            self.state.recent.clear()

    def setting(self, name, default=None):
        with self.state.lock:
            return self.state.control.get(name, getattr(self.state, name, default))

    def answer(self, number: int, envelope: dict | None = None) -> None:
        body = {
            "ERROR_NUMBER": number,
            "ERROR_DESCRIPTION": DESCRIPTION.get(number, "Error"),
            "STATUS_CODE": STATUS.get(number, 400),
            **(envelope or {}),
        }
        if self.setting("key_case") == "lower":
            body = {key.lower(): value for key, value in body.items()}
        status = STATUS.get(number, 400)
        if number and self.setting("errors_as_http_200", False):
            status = 200
        self.reply(status, body)

    def do_GET(self):
        split = urlsplit(self.path)
        if split.path == "/__stats":
            with self.state.lock:
                return self.reply(200, {**self.state.stats, "queries": list(self.state.queries)})
        if split.path not in PATHS:
            return self.reply(404, {"error": "not found"})
        params: dict = {}
        for key, value in parse_qsl(split.query, keep_blank_values=True):
            match = re.fullmatch(r"(\w+)\[\d*\]", key)  # PHP-style fields[0]=..
            name = match.group(1) if match else key
            if match or name in params:
                existing = params.get(name)
                params[name] = (
                    existing if isinstance(existing, list) else ([] if existing is None else [existing])
                ) + [value]
            else:
                params[name] = value
        self.serve(params, "query")

    def do_POST(self):
        body = self.read_body()
        path = urlsplit(self.path).path
        if path == "/__control":
            return self.handle_control(body)
        if path not in PATHS:
            return self.reply(404, {"error": "not found"})
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            return self.answer(5)
        if not isinstance(params, dict):
            return self.answer(5)
        self.serve(params, "search" if isinstance(params.get("search"), dict) else "top-level")

    def rate_limited(self) -> bool:
        limit = self.setting("rate_limit")
        now = time.monotonic()
        with self.state.lock:
            recent = self.state.recent
            while recent and recent[0] <= now - float(limit["seconds"]):
                recent.popleft()
            if len(recent) >= int(limit["requests"]):
                self.state.stats["rate_limited"] += 1
                return True
            recent.append(now)
            return False

    def serve(self, params: dict, shape: str) -> None:
        if self.inject_fault():
            return
        with self.state.lock:
            queued = self.state.control.get("errors") or []
            forced = queued.pop(0) if queued else None
        if forced:
            return self.answer(int(forced))
        if self.rate_limited():
            return self.answer(1)
        params = {str(k).lower(): v for k, v in params.items()}
        bearer = self.headers.get("Authorization", "")
        if params.get("code") != self.state.code and bearer != f"Bearer {self.state.code}":
            self.state.count("unauthorized")
            return self.answer(2)
        allowed = self.setting("allowed_ips")
        if allowed and self.client_address[0] not in allowed:
            return self.answer(4)
        search = params.get("search") if isinstance(params.get("search"), dict) else {}
        filters = {**params, **{str(k).lower(): v for k, v in search.items()}}
        start, end = parse_date(filters.get("fromdate")), parse_date(filters.get("todate"))
        if start is None or end is None or end < start:
            return self.answer(5)
        self.list_cdrs(params, filters, start, end, shape)

    def list_cdrs(self, params: dict, filters: dict, start: datetime, end: datetime, shape: str) -> None:
        now = self.setting("now") or time.time()
        delay = float(self.setting("delay_seconds") or 0)
        omit = set(self.setting("omit") or [])
        rows = [
            r
            for r in self.state.records
            if start <= parse_date(r["Date"]) <= end and ended(r) + delay <= now and r["CallID"] not in omit
        ]
        phones = list_param(filters, "phones")
        if phones:
            rows = [r for r in rows if any(p and (p in r["CallerNumber"] or p in r["TargetNumber"]) for p in phones)]
        extensions = list_param(filters, "extensions")
        if extensions:
            rows = [r for r in rows if r["CallerExtension"] in extensions or r["TargetExtension"] in extensions]
        if filters.get("callid"):
            rows = [r for r in rows if r["CallID"] == filters["callid"]]
        types = list_param(filters, "cdrtypes")
        if types:
            rows = [r for r in rows if r["CdrType"] in {int(t) for t in types}]
        sort = params.get("sort")
        first = sort[0] if isinstance(sort, list) and sort and isinstance(sort[0], dict) else {}
        if str(first.get("field")).lower() == "date":
            rows = sorted(rows, key=lambda r: r["Date"], reverse=str(first.get("order")).lower() == "desc")
        cap = int(self.setting("cap"))
        returned = rows[:cap]
        fields = list_param(params, "fields")
        lower = self.setting("key_case") == "lower"
        listed = []
        for row in returned:
            if fields:
                wanted = {str(f).lower() for f in fields}
                row = {k: v for k, v in row.items() if k.lower() in wanted}
            listed.append({k.lower(): v for k, v in row.items()} if lower else dict(row))
        with self.state.lock:
            if len(rows) > len(returned):
                self.state.stats["answers_full"] += 1
            self.state.queries.append(
                {
                    "fromdate": start.isoformat(),
                    "todate": end.isoformat(),
                    "shape": shape,
                    "total": len(rows),
                    "returned": len(returned),
                }
            )
        self.answer(0, {"TOTAL_HITS": len(rows), "RETURN_HITS": len(returned), "CDR_LIST": listed})


def main(argv=None) -> None:
    parser = arg_parser(__doc__, 8002, DEFAULT_DATA)
    parser.add_argument("--code", default="demo-voicenter-code")
    parser.add_argument("--cap", type=int, default=10_000)
    parser.add_argument("--key-case", choices=("vendor", "lower"), default="vendor")
    parser.add_argument("--rate-limit", type=int, default=30, help="requests a minute")
    parser.add_argument("--webhook-zone", default=WEBHOOK_ZONE[0], help="the zone of the webhook's wall-clock time")
    args = parser.parse_args(argv)
    WEBHOOK_ZONE[0] = args.webhook_zone
    state = State(json.loads(args.data.read_text()), args.code, args.cap, args.key_case, args.rate_limit)
    serve_forever(make_server(args.host, args.port, Handler, state, args.verbose), "Voicenter Call Log simulator")


if __name__ == "__main__":
    main()
