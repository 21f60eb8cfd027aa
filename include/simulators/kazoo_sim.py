"""A KAZOO Crossbar simulator that speaks the documented ``cdrs`` API, for the demo and the tests.

It serves CDR list rows from a JSON file and behaves as Crossbar does where a client can go wrong:
  * ``PUT /v2/api_auth`` with ``{"data": {"api_key": ...}}`` gives a token that expires (``--token-ttl``);
    any other request without a live ``X-Auth-Token`` gets HTTP 401;
  * ``GET /v2/accounts/{id}/cdrs`` filters on ``created_from``/``created_to`` (Gregorian seconds, inclusive,
    on the CDR's creation time = call start + duration), refuses ranges over 31 days + 1 hour with HTTP 400,
    and pages newest first through an opaque ``start_key``/``next_start_key``.
  * ``GET /v2/accounts/{id}/phone_numbers`` lists the account's own numbers (``--numbers``): as Crossbar's
    ``data.numbers`` object by default, or (control ``numbers_shape: "paged"``) as a list paged with
    ``start_key`` as later releases do; control ``numbers_status`` N answers that HTTP status instead.
Tests steer faults through ``POST /__control`` and read ``GET /__stats`` (see simbase.py); KAZOO adds
``expire_tokens``, ``expire_after`` N (the token dies after N more requests), ``repeat_edge`` and ``stuck_key``.

Run: python include/simulators/kazoo_sim.py --port 8000 [--data FILE] [--api-key KEY] [--account-id ID]
It prints ``KAZOO simulator listening on http://HOST:PORT`` once it accepts connections.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from simbase import SimHandler, SimState, arg_parser, make_server, serve_forever

GREGORIAN_UNIX_OFFSET = 62_167_219_200
MAX_RANGE = 31 * 86400 + 3600
DEFAULT_DATA = Path(__file__).resolve().parents[1] / "demo_data" / "kazoo_cdrs.json"
# The demo account's DIDs (include/demo_data/generate_kazoo.py); the second one is written nationally.
DEFAULT_NUMBERS = ("+18005550100", "+18005550111")


class State(SimState):
    def __init__(self, rows, api_key, account_id, token_ttl, numbers=()):
        super().__init__()
        self.numbers = list(numbers)
        # Creation time is when the CDR document was written: at the end of the call leg.
        self.rows = sorted(rows, key=lambda r: (created_at(r), str(r.get("id"))), reverse=True)
        self.api_key = api_key
        self.account_id = account_id
        self.token_ttl = token_ttl
        self.tokens: dict[str, float] = {}
        self.stats.update({"auth": 0, "unauthorized": 0})

    def created(self, row) -> int:
        return created_at(row)


def created_at(row) -> int:
    """Gregorian seconds the CDR was written (start + duration); list rows may carry both as strings, as the
    crossbar documentation's own examples do."""
    return int(row["timestamp"]) + int(row.get("duration_seconds") or 0)


def encode_key(row) -> str:
    raw = json.dumps([created_at(row), str(row.get("id"))]).encode()
    return base64.urlsafe_b64encode(raw).decode()


class Handler(SimHandler):
    server_version = "KazooSimulator/1.0"
    name = "kazoo-sim"

    def error(self, status: int, message: str, data: dict | None = None) -> None:
        self.reply(
            status,
            {
                "data": data or {"message": message},
                "error": str(status),
                "message": message,
                "status": "error",
                "request_id": secrets.token_hex(8),
            },
        )

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
        self.reply(
            201,
            {
                "auth_token": token,
                "data": {"account_id": self.state.account_id, "owner_id": "demo"},
                "status": "success",
                "request_id": secrets.token_hex(8),
                "revision": "automatic",
            },
        )

    def do_POST(self):
        body = self.read_body()
        if urlsplit(self.path).path != "/__control":
            return self.error(404, "not found")
        self.handle_control(body)

    def on_control(self, control: dict) -> None:
        if control.pop("expire_tokens", False):
            self.state.tokens.clear()

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/__stats":
            return self.reply(200, self.state.stats)
        if url.path == f"/v2/accounts/{self.state.account_id}/phone_numbers":
            if not self.authorized():
                return self.error(401, "invalid credentials")
            return self.list_numbers(parse_qs(url.query))
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

    def list_numbers(self, query) -> None:
        control = self.state.control
        if control.get("numbers_status"):
            return self.error(int(control["numbers_status"]), "forbidden")
        info = {"state": "in_service", "used_by": "callflow", "features": []}
        envelope = {"status": "success", "request_id": secrets.token_hex(8), "revision": "automatic"}
        if control.get("numbers_shape") != "paged":
            return self.reply(
                200, {**envelope, "data": {"numbers": {n: info for n in self.state.numbers}, "cascade_quantity": 0}}
            )
        page_size = int((query.get("page_size") or ["50"])[-1])
        start = int((query.get("start_key") or ["0"])[-1])
        page = [{"id": n, **info} for n in self.state.numbers[start : start + page_size]]
        body = {**envelope, "data": page, "page_size": len(page)}
        if start + page_size < len(self.state.numbers):
            body["next_start_key"] = str(start + page_size)
        self.reply(200, body)

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
            return self.error(
                400,
                "validation error",
                {
                    "created_to": {
                        "date_range": {
                            "message": f"created_to is more than {MAX_RANGE} seconds from created_from",
                            "cause": created_to,
                        }
                    }
                },
            )
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
        page = rows[start : start + page_size]
        body = {
            "data": page,
            "page_size": len(page),
            "status": "success",
            "request_id": secrets.token_hex(8),
            "revision": "automatic",
            "start_key": start_key,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if start + page_size < len(rows):
            body["next_start_key"] = (
                start_key if (control.get("stuck_key") and start_key) else encode_key(rows[start + page_size])
            )
        self.reply(200, body)


def serve(
    host: str,
    port: int,
    data: Path,
    api_key: str,
    account_id: str,
    token_ttl: float,
    verbose=False,
    numbers=DEFAULT_NUMBERS,
):
    rows = json.loads(Path(data).read_text())
    return make_server(host, port, Handler, State(rows, api_key, account_id, token_ttl, numbers), verbose)


def main(argv=None) -> None:
    parser = arg_parser(__doc__, 8000, DEFAULT_DATA)
    parser.add_argument("--api-key", default="demo-kazoo-api-key")
    parser.add_argument("--account-id", default="demo-account")
    parser.add_argument("--token-ttl", type=float, default=3600.0)
    parser.add_argument(
        "--numbers", default=",".join(DEFAULT_NUMBERS), help="the account's own numbers, comma-separated"
    )
    args = parser.parse_args(argv)
    server = serve(
        args.host,
        args.port,
        args.data,
        args.api_key,
        args.account_id,
        args.token_ttl,
        args.verbose,
        [n for n in args.numbers.split(",") if n],
    )
    serve_forever(server, "KAZOO simulator")


if __name__ == "__main__":
    main()
