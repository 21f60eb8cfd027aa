"""A While1 Voice PBX ``/api/cdr`` simulator, for the demo and the tests.

It checks each request as the PHP server does: the ``Authorization: Bearer`` token, then the ``api_hash``
(``md5(http_build_query($params) . $api_key)`` over the parameters it received, without ``api_hash``), and
answers the vendor's envelope (``has_error``, ``messages``, ``pagination``, ``results``). Filters it does not
know are refused. ``date_between`` compares the PBX's wall-clock ``time`` (inclusive both ends); ``from_id``
keeps ids at or above it. Rows appear only once their call has ended by the simulator's clock (``now``, Unix
seconds, settable through ``POST /__control``; the real clock otherwise), as the PBX writes a CDR at hang-up.

Run: python include/simulators/pbx_sim.py --port 8001 [--data FILE] [--token T] [--api-key K] [--page-size N]
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import urlsplit

from simbase import SimHandler, SimState, arg_parser, make_server, serve_forever

from cdr.sources.pbx.phpquery import api_hash, parse_str

DEFAULT_DATA = Path(__file__).resolve().parents[1] / "demo_data" / "pbx_cdrs.json"
KNOWN_FILTERS = {
    "date_between",
    "project_id",
    "user_id",
    "inbound_route_id",
    "direction",
    "call_status",
    "telephone_like",
    "telephone",
    "source",
    "destination",
    "hour_between",
    "from_id",
    "uniqueid",
    "linkedid",
    "external_id",
    "has_transcription",
    "has_monitor_file",
    "has_recording_file",
}


def hms(text: str) -> int:
    hours, minutes, seconds = (int(part) for part in text.split(":"))
    return hours * 3600 + minutes * 60 + seconds


def ended_at(row: dict) -> float:
    """When the PBX wrote the row: the call's Unix start (its uniqueid) plus its duration. A row whose uniqueid or
    duration is not one (the tests' planted values) counts as written long ago, rather than stopping the server."""
    try:
        return float(row["uniqueid"].split(".")[0]) + hms(row.get("duration") or "00:00:00")
    except (ValueError, KeyError, AttributeError):
        return 0.0


class State(SimState):
    def __init__(self, rows, token, api_key, page_size):
        super().__init__()
        # a hostile row without a numeric id (the tests' poison pill) sorts first rather than stopping the server
        self.rows = sorted(rows, key=lambda r: int(r["id"]) if str(r.get("id") or "").isdigit() else -1)
        self.token, self.api_key, self.page_size = token, api_key, page_size
        self.stats.update({"unauthorized": 0, "bad_hash": 0})


def envelope(results=(), messages=(), pagination=None, has_error=False) -> dict:
    return {
        "has_error": has_error,
        "messages": list(messages),
        "pagination": pagination if pagination is not None else [],
        "results": list(results),
    }


class Handler(SimHandler):
    server_version = "While1PbxSimulator/1.0"
    name = "pbx-sim"

    def do_GET(self):
        if urlsplit(self.path).path == "/__stats":
            return self.reply(200, self.state.stats)
        self.reply(404, envelope(messages=["Not found"], has_error=True))

    def do_POST(self):
        body = self.read_body()
        path = urlsplit(self.path).path
        if path == "/__control":
            return self.handle_control(body)
        if path != "/api/cdr":
            return self.reply(404, envelope(messages=["Not found"], has_error=True))
        if self.headers.get("Authorization") != f"Bearer {self.state.token}":
            self.state.count("unauthorized")
            return self.reply(401, envelope(messages=["Unauthorized: invalid or missing token"], has_error=True))
        if self.inject_fault():
            return
        params = parse_str(body.decode("utf-8", errors="replace"))
        received = params.pop("api_hash", None)
        if received != api_hash(params, self.state.api_key):
            self.state.count("bad_hash")
            return self.reply(200, envelope(messages=["Invalid api_hash"], has_error=True))
        filters = params.get("filters") or {}
        if not isinstance(filters, dict):
            return self.reply(200, envelope(messages=["Invalid filters"], has_error=True))
        unknown = sorted(set(filters) - KNOWN_FILTERS)
        if unknown:
            return self.reply(200, envelope(messages=[f"Invalid filter: {name}" for name in unknown], has_error=True))
        self.list_cdrs(filters, params.get("page", "1"))

    def list_cdrs(self, filters: dict, page_text: str) -> None:
        try:
            page = max(int(page_text), 1)
        except ValueError:
            return self.reply(200, envelope(messages=[f"Invalid page: {page_text}"], has_error=True))
        now = self.state.control.get("now", time.time())
        rows = [r for r in self.state.rows if ended_at(r) <= now]
        between = filters.get("date_between")
        if isinstance(between, dict) and between.get("0") and between.get("1"):
            rows = [r for r in rows if between["0"] <= r["time"] <= between["1"]]
        if filters.get("from_id"):
            rows = [r for r in rows if str(r.get("id") or "").isdigit() and int(r["id"]) >= int(filters["from_id"])]
        size = self.state.page_size
        max_page = -(-len(rows) // size)
        chunk = rows[(page - 1) * size : page * size]
        self.reply(
            200,
            envelope(
                chunk,
                pagination={
                    "row_count": len(rows),
                    "page_size": size,
                    "current_page": page if rows else 0,
                    "max_page": max_page,
                },
            ),
        )


def main(argv=None) -> None:
    parser = arg_parser(__doc__, 8001, DEFAULT_DATA)
    parser.add_argument("--token", default="demo-pbx-token")
    parser.add_argument("--api-key", default="demo-pbx-api-key")
    parser.add_argument("--page-size", type=int, default=100)
    args = parser.parse_args(argv)
    state = State(json.loads(args.data.read_text()), args.token, args.api_key, args.page_size)
    serve_forever(make_server(args.host, args.port, Handler, state, args.verbose), "PBX simulator")


if __name__ == "__main__":
    main()
