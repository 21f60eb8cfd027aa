"""What the demo simulators share: JSON answers, a control endpoint for tests, and injected faults.

``POST /__control`` merges a JSON object into the simulator's settings (``{"reset": true}`` clears them);
``GET /__stats`` answers counters. ``faults`` is a list consumed one per API request: {"status": 429,
"retry_after": "1"}, {"status": 500}, {"drop": true} (close the connection without an answer), or null.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class SimState:
    def __init__(self):
        self.lock = threading.Lock()
        self.control: dict = {}
        self.stats: dict[str, int] = {"requests": 0, "faults": 0}

    def count(self, name: str) -> None:
        with self.lock:
            self.stats[name] = self.stats.get(name, 0) + 1


class SimHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    name = "sim"

    @property
    def state(self):
        return self.server.state  # type: ignore[attr-defined]

    def log_message(self, fmt, *args):  # quiet: tests read stats, not access logs
        if self.server.verbose:  # type: ignore[attr-defined]
            sys.stderr.write(f"{self.name}: " + fmt % args + "\n")

    def reply(self, status: int, body, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def handle_control(self, body: bytes) -> None:
        control = json.loads(body or b"{}")
        with self.state.lock:
            if control.pop("reset", False):
                self.state.control.clear()
            self.on_control(control)
            self.state.control.update(control)
        self.reply(200, {"control": self.state.control})

    def on_control(self, control: dict) -> None:
        """Hook for simulator-specific one-shot commands; called with the state locked."""

    def inject_fault(self) -> bool:
        with self.state.lock:
            self.state.stats["requests"] += 1
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
        self.reply(int(fault["status"]), {"status": "error", "message": "injected fault"}, headers)
        return True


def arg_parser(doc: str, port: int, data) -> argparse.ArgumentParser:
    """The options every simulator takes; each adds its own credentials."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port, help="0 picks a free port")
    parser.add_argument("--data", type=type(data), default=data)
    parser.add_argument("--verbose", action="store_true")
    return parser


def make_server(host: str, port: int, handler: type[SimHandler], state, verbose: bool = False):
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    server.state = state  # type: ignore[attr-defined]
    server.verbose = verbose  # type: ignore[attr-defined]
    return server


def serve_forever(server, title: str) -> None:
    host, port = server.server_address[:2]
    print(f"{title} listening on http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
