"""A page server for the pull benchmarks: every answer is rendered before the first request, so it never limits.

It speaks just enough of each API for a real client to pull one UTC day (2026-11-20) of synthetic CDRs:
  kazoo: ``PUT /v2/api_auth`` hands out a token; ``GET /v2/accounts/bench/cdrs`` refuses a missing or wrong
         ``X-Auth-Token`` (401), a window other than the day or another ``page_size`` (400), and follows the
         opaque ``start_key``/``next_start_key`` cursor, newest first, as Crossbar does;
  pbx:   ``POST /api/cdr`` refuses a wrong Bearer token (401) and a wrong ``api_hash`` (``has_error``), and pages
         by ``page`` with the vendor's envelope. A request body is compared with the pre-signed one for its page;
         any other body is parsed and its signature checked as the PHP server does.

Run: python bench/pull_server.py kazoo|pbx --rows 200000 [--variant base] [--port 0]
(``--variant``: one of VARIANTS below; it sets the rows' shape, the days they span and the page size.)
It prints ``listening on http://HOST:PORT`` once it accepts connections, and serves until killed.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))
from cdr.sources.pbx.phpquery import api_hash, http_build_query, parse_str  # noqa: E402

DAY = datetime(2026, 11, 20, tzinfo=UTC)
GREGORIAN_UNIX_OFFSET = 62_167_219_200
KAZOO_KEY, KAZOO_ACCOUNT, KAZOO_TOKEN = "bench-kazoo-key", "bench", "bench-token-0123456789abcdef"
PBX_TOKEN, PBX_KEY, PBX_TZ = "bench-pbx-token", "bench-pbx-key", "Europe/Bucharest"
AGENTS = [
    ("1001", "u-ana", "Ana Lopez"),
    ("1002", "u-ben", "Ben Carter"),
    ("1003", "u-chloe", "Chloe Dubois"),
    ("1004", "u-dev", "Dev Patel"),
    ("1005", "u-eve", "Eve Moreau"),
    ("1006", "u-femi", "Femi Adeyemi"),
]
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
]
CAUSES = ["NORMAL_CLEARING", "NORMAL_CLEARING", "NORMAL_CLEARING", "ORIGINATOR_CANCEL", "USER_BUSY", "NO_ANSWER"]


def kazoo_rows(count: int, days: int = 1) -> list[dict]:
    """Crossbar list rows (the documented summary) of ``days`` UTC days; one in ten carries an undocumented object."""
    rows = []
    for n in range(count):
        start = DAY + timedelta(seconds=n * 86_000 * days // count)
        duration = 5 + n * 7919 % 380
        billing = max(0, duration - 4 - n % 9) if n % 5 else 0
        ext, owner, name = AGENTS[n % len(AGENTS)]
        outside = OUTSIDE[n * 31 % len(OUTSIDE)]
        call_id = f"{n:08x}-{n * 2654435761 % 2**32:08x}-4b1e-9c2d-{n * 40503 % 2**48:012x}"
        inbound = n % 3 != 0
        caller, callee = (outside, ext) if inbound else (ext, outside)
        g = int(start.timestamp()) + GREGORIAN_UNIX_OFFSET
        row = {
            "id": f"{start:%Y%m}-{call_id}",
            "call_id": call_id,
            "caller_id_number": caller,
            "caller_id_name": "OUTSIDE CALLER" if inbound else name,
            "callee_id_number": callee,
            "callee_id_name": name if inbound else "",
            "duration_seconds": duration,
            "billing_seconds": billing,
            "timestamp": g,
            "hangup_cause": CAUSES[n % len(CAUSES)],
            "other_leg_call_id": f"{call_id[:-4]}beef",
            "owner_id": owner,
            "to": f"{callee}@bench.sip.example",
            "from": f"{caller}@bench.sip.example",
            "direction": "inbound" if inbound else "outbound",
            "request": f"{callee}@bench.sip.example",
            "authorizing_id": owner,
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
            "bridge_id": call_id,
            "recording_url": f"https://recordings.bench.example/{call_id}.mp3" if billing else "",
            "media_server": f"fs{n % 4}.bench.example",
            "call_priority": "",
            "interaction_id": f"{g}-{n * 97 % 2**32:08x}",
        }
        if n % 10 == 0:
            row["custom_channel_vars"] = {"campaign": "winter", "queue_priority": n % 5 + 1}
        rows.append(row)
    return rows


def hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def pbx_rows(count: int, days: int = 1) -> list[dict]:
    """/api/cdr result rows of ``days`` UTC days, the PBX's wall-clock times in Bucharest."""
    tz = ZoneInfo(PBX_TZ)
    rows = []
    for n in range(count):
        start = DAY + timedelta(seconds=n * 86_000 * days // count)
        duration = 5 + n * 7919 % 380
        bill = max(0, duration - 20) if n % 4 else 0
        agent, name = AGENTS[n % len(AGENTS)][1:]
        outside = OUTSIDE[n * 31 % len(OUTSIDE)]
        uniqueid = f"{int(start.timestamp())}.{n}"
        local = start.astimezone(tz)
        rows.append(
            {
                "id": str(1_000_000 + n),
                "uniqueid": uniqueid,
                "linkedid": uniqueid,
                "time": local.strftime("%Y-%m-%d %H:%M:%S"),
                "time_end": (local + timedelta(seconds=duration)).strftime("%Y-%m-%d %H:%M:%S"),
                "caller_id": f'"{outside}" <{outside}>',
                "source": outside,
                "destination": "0312285000",
                "direction": "IN",
                "channel_formatted": "PJSIP/trunk-bench",
                "dstchannel_formatted": f"PJSIP/{agent}" if bill else "",
                "customer_id": None,
                "user_fullname": name if bill else None,
                "qname": "Suport" if n % 2 else "Vanzari",
                "code": "inbound",
                "call_status": "ANSWERED" if bill else "NO ANSWER",
                "call_status_info": "DS:ANSWER|HC:16|HI:" if bill else "DS:NOANSWER|HC:19|HI:",
                "call_codes": "in answered" if bill else "in abandoned",
                "accounting_code": None,
                "accounting_value": None,
                "comments": None,
                "monitor_files": None,
                "monitor_urls": None,
                "recording_file": f"{uniqueid}.wav" if bill else None,
                "recording_url": f"https://pbx.bench.example/recordings/{uniqueid}.wav" if bill else None,
                "transfers": [{"from": agent, "to": "elena-radu"}] if n % 20 == 0 else None,
                "project": "Bench Contact Center",
                "inbound_route": "Main DID",
                "inbound_route_id": "1",
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
                "hold_time": hms(n % 40),
                "ring_time": hms(3 + n % 20),
            }
        )
    return rows


# The data variants the pull benchmarks serve in turn (issue 30): the same contenders on data shaped otherwise
# than the generator above, so that no figure holds only for the benchmark's own rows. Each is the generator's
# rows reshaped, or the vendor's own published example rows repeated; ``days`` and ``page_size`` belong to the
# variant too.
@dataclass(frozen=True)
class Variant:
    name: str
    what: str
    days: int = 1
    page_size: int | None = None  # None: the source's own (PAGE_SIZE)


VARIANTS = {
    v.name: v
    for v in (
        Variant("base", "the generator's rows as they are"),
        Variant("shuffled", "field order shuffled per row"),
        Variant("strings", "every number as a string, as KAZOO's own docs show"),
        Variant("blanks", 'a third of the optional fields "", null or absent, varying per row'),
        Variant("long-short", "rows of 50 to 5,000 bytes: bare ids and times, or long urls and names"),
        Variant("samples", "the vendor's published example rows, repeated with fresh ids"),
        Variant("two-days", "rows spread over two UTC days, one window", days=2),
        Variant("unix-times", "start times in Unix seconds, where the API documents Gregorian ones"),
        Variant("pages-50", "pages of 50 rows", page_size=50),
        Variant("pages-5000", "pages of 5,000 rows", page_size=5000),
    )
}
PAGE_SIZE = {"kazoo": 1000, "pbx": 100}  # KAZOO's client asks for 1,000; the PBX pages by 100, as documented
# What each source's rows cannot do without: their identity and their time (the rest may be blank or absent).
REQUIRED = {"kazoo": ("id", "call_id", "timestamp"), "pbx": ("id", "uniqueid", "linkedid", "time")}


def _numbers_as_strings(value):
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        return {key: _numbers_as_strings(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_numbers_as_strings(item) for item in value]
    return value


def _sample_rows(source: str) -> list[dict]:
    """The vendor's own example rows: KAZOO's 2015 list and grouped rows (tests/vendor_samples.py fills their
    placeholders), and the While1 PBX document's example answer (its ``results``)."""
    sys.path.insert(0, str(ROOT / "tests"))
    if source == "kazoo":
        from vendor_samples import kazoo_rows as vendor_kazoo_rows

        return vendor_kazoo_rows()
    text = (ROOT / "tests" / "fixtures" / "vendor_samples" / "pbx" / "cdr_answer_doc.txt").read_text()
    results = re.search(r'"results": (\[.*\])\s*\}', text, re.S)
    return json.loads(results.group(1))


def _fresh_ids(source: str, row: dict, n: int) -> dict:
    row = dict(row)
    if source == "kazoo":
        call_id = f"{n:08x}-{n * 2654435761 % 2**32:08x}-4b1e-9c2d-{n * 40503 % 2**48:012x}"
        row["id"] = f"{row['id'][:7]}{call_id}" if row["id"][6:7] == "-" else call_id
        row["call_id"] = call_id
    else:
        row["id"] = str(2_000_000 + n)
        row["uniqueid"] = row["linkedid"] = f"{row['uniqueid'].split('.')[0]}.{n}"
    return row


def variant_rows(source: str, count: int, variant: Variant) -> list[dict]:
    """``count`` rows of ``source`` shaped as ``variant`` says, over its days from DAY."""
    if variant.name == "samples":
        samples = _sample_rows(source)
        return [_fresh_ids(source, samples[n % len(samples)], n) for n in range(count)]
    rows = (kazoo_rows if source == "kazoo" else pbx_rows)(count, variant.days)
    required = REQUIRED[source]
    rng = random.Random(30)
    out = []
    for n, row in enumerate(rows):
        if variant.name == "shuffled":
            items = list(row.items())
            rng.shuffle(items)
            row = dict(items)
        elif variant.name == "strings":
            row = _numbers_as_strings(row)
        elif variant.name == "blanks":
            row = dict(row)
            for index, key in enumerate(list(row)):
                if key not in required and (n + index) % 3 == 0:
                    choice = (n + index) // 3 % 3
                    if choice == 2:
                        del row[key]
                    else:
                        row[key] = "" if choice == 0 else None
        elif variant.name == "unix-times":
            row = dict(row)
            if source == "kazoo":
                row["timestamp"] -= GREGORIAN_UNIX_OFFSET
            else:
                row["time"] = str(int(datetime.strptime(row["time"], "%Y-%m-%d %H:%M:%S").timestamp()))
        elif variant.name == "long-short":
            if n % 4 == 0:
                row = {key: row[key] for key in (required[0], required[-1])}  # its id and time: 50 to 80 bytes
            else:
                row = dict(row)
                pad = n * 7919 % 3900  # from about 1,100 to 5,000 bytes
                row["recording_url"] = f"https://recordings.bench.example/{row['id']}.mp3?sig={'x' * pad}"
                name_key = "caller_id_name" if source == "kazoo" else "user_fullname"
                row[name_key] = "Maria-Magdalena " * (n % 8) + "Popescu-Ionescu"
        out.append(row)
    return out


def _seconds(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def kazoo_key(row: dict) -> str:
    raw = json.dumps([_seconds(row.get("timestamp")) + _seconds(row.get("duration_seconds")), row["id"]]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def pbx_filters(days: int = 1) -> dict:
    """The filter every contender sends: the days in the PBX's wall clock, both ends inclusive."""
    tz = ZoneInfo(PBX_TZ)
    last = DAY + timedelta(days=days) - timedelta(seconds=1)
    return {
        "date_between": [
            DAY.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
            last.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
        ]
    }


def signed_body(page: int, filters: dict, key: str) -> bytes:
    params = {"page": page, "filters": filters}
    return http_build_query({**params, "api_hash": api_hash(params, key)}).encode()


class Pages:
    """Every answer as bytes, rendered up front."""

    def __init__(self, source: str, rows: int, variant: Variant, page_size: int | None = None):
        page_size = page_size or variant.page_size or PAGE_SIZE[source]
        self.source, self.page_size = source, page_size
        data = variant_rows(source, rows, variant)
        if source == "kazoo":
            # newest first by creation (start + duration), as Crossbar lists; a row without either sorts as 0
            data.sort(key=lambda r: (_seconds(r.get("timestamp")) + _seconds(r.get("duration_seconds")), r["id"]))
            data.reverse()
            chunks = [data[i : i + page_size] for i in range(0, len(data), page_size)]
            keys = [None] + [kazoo_key(chunk[0]) for chunk in chunks[1:]]
            self.by_key: dict[str | None, bytes] = {}
            for index, chunk in enumerate(chunks):
                body = {
                    "page_size": len(chunk),
                    "start_key": keys[index],
                    "data": chunk,
                    "status": "success",
                    "request_id": f"bench{index:06d}",
                    "revision": "automatic",
                }
                if index + 1 < len(chunks):
                    body["next_start_key"] = keys[index + 1]
                self.by_key[keys[index]] = json.dumps(body, separators=(",", ":")).encode()
            self.window = {
                "created_from": str(int(DAY.timestamp()) + GREGORIAN_UNIX_OFFSET),
                "created_to": str(int(DAY.timestamp()) + 86_400 * variant.days + GREGORIAN_UNIX_OFFSET - 1),
            }
        else:
            chunks = [data[i : i + page_size] for i in range(0, len(data), page_size)]
            self.filters = pbx_filters(variant.days)
            self.by_page: dict[int, bytes] = {}
            self.by_body: dict[bytes, bytes] = {}
            for index, chunk in enumerate(chunks, 1):
                body = {
                    "has_error": False,
                    "messages": [],
                    "pagination": {
                        "row_count": len(data),
                        "page_size": page_size,
                        "current_page": index,
                        "max_page": len(chunks),
                    },
                    "results": chunk,
                }
                self.by_page[index] = json.dumps(body, separators=(",", ":")).encode()
                self.by_body[signed_body(index, self.filters, PBX_KEY)] = self.by_page[index]
        self.bytes = sum(map(len, (self.by_key if source == "kazoo" else self.by_page).values()))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # the benchmark reads its own counts, not an access log
        pass

    @property
    def pages(self) -> Pages:
        return self.server.pages  # type: ignore[attr-defined]

    def send(self, status: int, body: bytes) -> None:
        head = (
            f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.wfile.write(head + body)

    def error(self, status: int, message: str) -> None:
        self.send(status, json.dumps({"status": "error", "message": message}).encode())

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_PUT(self):
        body = self.body()
        if self.pages.source != "kazoo" or self.path != "/v2/api_auth":
            return self.error(404, "not found")
        try:
            key = json.loads(body)["data"]["api_key"]
        except (ValueError, KeyError, TypeError):
            return self.error(400, "invalid request")
        if key != KAZOO_KEY:
            return self.error(401, "invalid credentials")
        self.send(
            201,
            json.dumps(
                {"auth_token": KAZOO_TOKEN, "status": "success", "data": {"account_id": KAZOO_ACCOUNT}}
            ).encode(),
        )

    def do_GET(self):
        url = urlsplit(self.path)
        if self.pages.source != "kazoo" or url.path != f"/v2/accounts/{KAZOO_ACCOUNT}/cdrs":
            return self.error(404, "not found")
        if self.headers.get("X-Auth-Token") != KAZOO_TOKEN:
            return self.error(401, "invalid credentials")
        query = {name: values[-1] for name, values in parse_qs(url.query).items()}
        if {name: query.get(name) for name in self.pages.window} != self.pages.window:
            return self.error(400, f"this server holds only the window {self.pages.window}, not {query}")
        if query.get("page_size") != str(self.pages.page_size):
            return self.error(400, f"this server renders page_size={self.pages.page_size} only")
        page = self.pages.by_key.get(query.get("start_key"))
        if page is None:
            return self.error(400, "invalid start_key")
        self.send(200, page)

    def do_POST(self):
        body = self.body()
        if self.pages.source != "pbx" or urlsplit(self.path).path != "/api/cdr":
            return self.error(404, "not found")
        if self.headers.get("Authorization") != f"Bearer {PBX_TOKEN}":
            return self.error(401, "Unauthorized: invalid or missing token")
        page = self.pages.by_body.get(body)
        if page is None:
            page = self.slow_path(body)
        self.send(200, page)

    def slow_path(self, body: bytes) -> bytes:
        """A body signed otherwise than the pre-signed one (other parameter order, say): check it for real."""
        params = parse_str(body.decode("utf-8", errors="replace"))
        received = params.pop("api_hash", None)
        if received != api_hash(params, PBX_KEY):
            return json.dumps({"has_error": True, "messages": ["Invalid api_hash"], "results": []}).encode()
        if params.get("filters") != parse_str(http_build_query({"filters": self.pages.filters}))["filters"]:
            return json.dumps({"has_error": True, "messages": ["this server holds one day only"]}).encode()
        try:
            page = int(params.get("page", "1"))
        except ValueError:
            page = 0
        return (
            self.pages.by_page.get(page)
            or json.dumps({"has_error": False, "messages": [], "results": [], "pagination": []}).encode()
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", choices=["kazoo", "pbx"])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="base")
    parser.add_argument("--page-size", type=int, help="instead of the variant's")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    server.pages = Pages(args.source, args.rows, VARIANTS[args.variant], args.page_size)  # type: ignore[attr-defined]
    host, port = server.server_address[:2]
    size = server.pages.bytes / 1e6
    print(f"{args.rows} {args.variant} rows in {size:.0f} MB of pages; listening on http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
