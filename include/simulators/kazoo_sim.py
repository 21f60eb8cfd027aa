"""A KAZOO Crossbar simulator that speaks the documented ``cdrs`` API, for the demo and the tests.

It serves CDR list rows from a JSON file and behaves as Crossbar does where a client can go wrong:
  * ``PUT /v2/api_auth`` with ``{"data": {"api_key": ...}}`` gives a token that expires (``--token-ttl``);
    any other request without a live ``X-Auth-Token`` gets HTTP 401;
  * ``GET /v2/accounts/{id}/cdrs`` filters on ``created_from``/``created_to`` (Gregorian seconds, inclusive,
    on the CDR's creation time = call start + duration), refuses ranges over 31 days + 1 hour with HTTP 400,
    and pages newest first through an opaque ``start_key``/``next_start_key``.
Tests steer faults through ``POST /__control`` (a JSON object, see ``Control``) and read ``GET /__stats``.

Run: python include/simulators/kazoo_sim.py --port 8000 [--data FILE] [--api-key KEY] [--account-id ID]
It prints ``KAZOO simulator listening on http://HOST:PORT`` once it accepts connections.
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

GREGORIAN_UNIX_OFFSET = 62_167_219_200
MAX_RANGE = 31 * 86400 + 3600
DEFAULT_DATA = Path(__file__).resolve().parents[1] / "demo_data" / "kazoo_cdrs.json"


class State:
    def __init__(self, rows, api_key, account_id, token_ttl):
        # Creation time is when the CDR document was written: at the end of the call leg.
        self.rows = sorted(
            rows, key=lambda r: (r["timestamp"] + int(r.get("duration_seconds") or 0), str(r.get("id"))), reverse=True
        )
        self.api_key = api_key
        self.account_id = account_id
        self.token_ttl = token_ttl
        self.tokens: dict[str, float] = {}
        self.lock = threading.Lock()
        self.control: dict = {}
        self.stats = {"auth": 0, "cdr_requests": 0, "unauthorized": 0, "faults": 0}

    def created(self, row) -> int:
        return row["timestamp"] + int(row.get("duration_seconds") or 0)


def encode_key(row) -> str:
    raw = json.dumps([row["timestamp"] + int(row.get("duration_seconds") or 0), str(row.get("id"))]).encode()
    return base64.urlsafe_b64encode(raw).decode()


class Handler(BaseHTTPRequestHandler):
    server_version = "KazooSimulator/1.0"
    protocol_version = "HTTP/1.1"

    @property
    def state(self) -> State:
        return self.server.state  # type: ignore[attr-defined]

    def log_message(self, fmt, *args):  # quiet: tests read stats, not access logs
        if self.server.verbose:  # type: ignore[attr-defined]
            sys.stderr.write("kazoo-sim: " + fmt % args + "\n")

    def reply(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def error(self, status: int, message: str, data: dict | None = None) -> None:
        self.reply(status, {"data": data or {"message": message}, "error": str(status), "message": message,
                            "status": "error", "request_id": secrets.token_hex(8)})

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_PUT(self):
        body = self.read_body()
        if urlsplit(self.path).path != "/v2/api_auth":
            return self.error(404, "not found")
        try:
            key = json.loads(body)["data"]["api_key"]
        except (ValueError, KeyError, TypeError):
            return self.error(400, "invalid request")
        if key != self.state.api_key:
            return self.error(401, "invalid credentials")
        token = secrets.token_hex(16)
        with self.state.lock:
            self.state.tokens[token] = time.monotonic() + self.state.token_ttl
            self.state.stats["auth"] += 1
        self.reply(201, {"auth_token": token, "data": {"account_id": self.state.account_id, "owner_id": "demo"},
                         "status": "success", "request_id": secrets.token_hex(8), "revision": "automatic"})

    def do_POST(self):
        body = self.read_body()
        if urlsplit(self.path).path != "/__control":
            return self.error(404, "not found")
        control = json.loads(body or b"{}")
        with self.state.lock:
            if control.pop("reset", False):
                self.state.control.clear()
            if control.pop("expire_tokens", False):
                self.state.tokens.clear()
            self.state.control.update(control)
        self.reply(200, {"status": "success", "control": self.state.control})

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/__stats":
            return self.reply(200, self.state.stats)
        expected = f"/v2/accounts/{self.state.account_id}/cdrs"
        if url.path.startswith("/v2/accounts/") and url.path.endswith("/cdrs") and url.path != expected:
            return self.error(403, "forbidden")
        if url.path != expected:
            return self.error(404, "not found")
        if not self.authorized():
            return self.error(401, "invalid credentials")
        if self.inject_fault():
            return
        self.list_cdrs(parse_qs(url.query))

    def authorized(self) -> bool:
        token = self.headers.get("X-Auth-Token")
        with self.state.lock:
            expires = self.state.tokens.get(token or "")
            ok = expires is not None and expires > time.monotonic()
            # ``expire_after`` N: the token dies after N more listing requests, mid-paging.
            left = self.state.control.get("expire_after")
            if ok and left is not None:
                if left <= 0:
                    self.state.tokens.pop(token, None)
                    self.state.control.pop("expire_after")
                    ok = False
                else:
                    self.state.control["expire_after"] = left - 1
            if not ok:
                self.state.stats["unauthorized"] += 1
        return ok

    def inject_fault(self) -> bool:
        """``faults``: a list consumed one per listing request: {"status": 429, "retry_after": "1"},
        {"status": 500}, {"drop": true} (close the connection without an answer), or null (answer normally)."""
        with self.state.lock:
            self.state.stats["cdr_requests"] += 1
            faults = self.state.control.get("faults") or []
            fault = faults.pop(0) if faults else None
            if fault:
                self.state.stats["faults"] += 1
        if not fault:
            return False
        if fault.get("drop"):
            self.close_connection = True
            self.connection.shutdown(2)
            return True
        headers = {"Retry-After": str(fault["retry_after"])} if "retry_after" in fault else None
        self.reply(int(fault["status"]), {"status": "error", "message": "injected fault", "error": str(fault["status"])},
                   headers)
        return True

    def list_cdrs(self, query) -> None:
        def one(name):
            values = query.get(name)
            return values[-1] if values else None

        now = int(time.time()) + GREGORIAN_UNIX_OFFSET
        try:
            created_to = int(one("created_to")) if one("created_to") else None
            created_from = int(one("created_from")) if one("created_from") else None
            page_size = int(one("page_size") or 50)
        except ValueError:
            return self.error(400, "invalid request", {"created_from": {"type": {"message": "must be an integer"}}})
        if created_to is None:
            created_to = (created_from + MAX_RANGE - 3600) if created_from is not None else now
        if created_from is None:
            created_from = created_to - (MAX_RANGE - 3600)
        if created_to - created_from > MAX_RANGE:
            return self.error(400, "validation error", {"created_to": {"date_range": {
                "message": f"created_to is more than {MAX_RANGE} seconds from created_from",
                "cause": created_to}}})
        if page_size < 1:
            return self.error(400, "validation error", {"page_size": {"minimum": {"message": "must be positive"}}})
        rows = [r for r in self.state.rows if created_from <= self.state.created(r) <= created_to]
        start = 0
        start_key = one("start_key")
        if start_key:
            keys = [encode_key(r) for r in rows]
            if start_key not in keys:
                return self.error(400, "invalid start_key", {"start_key": {"invalid": {"message": "unknown"}}})
            start = keys.index(start_key)
        control = self.state.control
        if control.get("repeat_edge") and start > 0:
            start -= 1  # the paging bug of past releases: the previous page's last row again
        page = rows[start:start + page_size]
        body = {"data": page, "page_size": len(page), "status": "success", "request_id": secrets.token_hex(8),
                "revision": "automatic", "start_key": start_key, "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ")}
        if start + page_size < len(rows):
            body["next_start_key"] = start_key if (control.get("stuck_key") and start_key) else encode_key(
                rows[start + page_size])
        self.reply(200, body)


def serve(host: str, port: int, data: Path, api_key: str, account_id: str, token_ttl: float, verbose=False):
    rows = json.loads(Path(data).read_text())
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    server.state = State(rows, api_key, account_id, token_ttl)  # type: ignore[attr-defined]
    server.verbose = verbose  # type: ignore[attr-defined]
    return server


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--api-key", default="demo-kazoo-api-key")
    parser.add_argument("--account-id", default="demo-account")
    parser.add_argument("--token-ttl", type=float, default=3600.0)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    server = serve(args.host, args.port, args.data, args.api_key, args.account_id, args.token_ttl, args.verbose)
    host, port = server.server_address[:2]
    print(f"KAZOO simulator listening on http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
