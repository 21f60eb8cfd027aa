"""Hostile clients for bench/voicenter_receiver.py, as issue 29 probed the receiver, each kind from a loopback
address of its own (Linux routes all of 127/8 to lo), as attackers on the internet come from their own:

* wrong-token clients: kept-alive connections, each sending wrong-token POSTs one after another and opening a new
  connection whenever the receiver closes (or refuses) one;
* huge-header clients: connections that send one header of up to 67 MiB, 64 KiB at a time, and reconnect a
  tenth of a second after the receiver closes them.

Run: .venv/bin/python bench/voicenter_flood.py --url http://127.0.0.1:8088 --wrong-token 300 --huge-headers 32
     --seconds 10
Prints one line `FLOOD {"answers": {"401": ..., "503": ...}, ...}` at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from urllib.parse import urlsplit

# The attackers run on the receiver's own machine (2 shared cores here): a client pauses after each refusal and
# between the chunks of its header, so that the bench measures the receiver, not the attackers' own CPU; each
# still sends a header far past any limit and reconnects as soon as it is let go.
REFUSED_PAUSE = 0.1  # seconds after a connection the receiver refused or closed, but for a 401
PACE = 0.01  # seconds between two 64 KiB chunks of a header
BODY = json.dumps({"ivruniqueid": "FLOOD", "caller": "0501234567", "duration": 1}).encode()


def wrong_token_request(token: str) -> bytes:
    return (
        f"POST /voicenter/cdr?token={token} HTTP/1.1\r\nHost: receiver\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n".encode()
        + BODY
    )


async def read_answer(reader: asyncio.StreamReader) -> tuple[bytes, bool]:
    """(status code, whether the receiver closes the connection after it) of one answer; b"" if it closed."""
    head = await reader.readuntil(b"\r\n\r\n")
    lower = head.lower()
    length = 0
    for line in lower.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return head[9:12], b"connection: close" in lower


async def wrong_token_client(host, port, source, until, request, stats: Counter) -> None:
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection(host, port, local_addr=(source, 0))
        except OSError:
            stats["connect refused"] += 1
            await asyncio.sleep(REFUSED_PAUSE)
            continue
        stats["connections"] += 1
        try:
            while time.monotonic() < until:
                writer.write(request)
                await writer.drain()
                status, closing = await asyncio.wait_for(read_answer(reader), timeout=10)
                stats[status.decode()] += 1
                if closing:
                    if status != b"401":
                        await asyncio.sleep(REFUSED_PAUSE)
                    break
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            stats["reset"] += 1
            await asyncio.sleep(REFUSED_PAUSE)
        finally:
            writer.close()


async def huge_header_client(host, port, source, until, stats: Counter) -> None:
    chunk = b"x" * 65536
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection(host, port, local_addr=(source, 0))
        except OSError:
            stats["connect refused"] += 1
            await asyncio.sleep(0.1)
            continue
        stats["connections"] += 1
        sent = 0
        try:
            writer.write(b"POST /voicenter/cdr HTTP/1.1\r\nHost: receiver\r\nX-Huge: ")
            while time.monotonic() < until and sent < 67 * 2**20 and not reader.at_eof():
                writer.write(chunk)
                await writer.drain()
                sent += len(chunk)
                await asyncio.sleep(PACE)
        except OSError:
            pass
        try:
            answer = await asyncio.wait_for(reader.read(64), timeout=2)
            stats[answer[9:12].decode() or "closed"] += 1
        except (OSError, TimeoutError):
            stats["reset"] += 1
        stats["header bytes sent"] += sent
        writer.close()
        await asyncio.sleep(REFUSED_PAUSE)


async def run(url: str, token: str, wrong: int, huge: int, seconds: float, sources: tuple[str, str]) -> dict:
    parts = urlsplit(url)
    until = time.monotonic() + seconds
    request = wrong_token_request(token)
    wrong_stats, huge_stats = Counter(), Counter()
    host, port = parts.hostname, parts.port
    await asyncio.gather(
        *(wrong_token_client(host, port, sources[0], until, request, wrong_stats) for _ in range(wrong)),
        *(huge_header_client(host, port, sources[1], until, huge_stats) for _ in range(huge)),
    )
    return {"wrong_token": dict(wrong_stats), "huge_headers": dict(huge_stats), "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", default="wrong-token-0123456789abcdefghijklmnopqrstuvwxyz")
    parser.add_argument("--wrong-token", type=int, default=300, help="wrong-token kept-alive connections")
    parser.add_argument("--huge-headers", type=int, default=32, help="connections sending an endless header")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--sources", default="127.0.0.2,127.0.0.3", help="source addresses of the two kinds")
    args = parser.parse_args()
    sources = tuple(args.sources.split(","))
    result = asyncio.run(run(args.url, args.token, args.wrong_token, args.huge_headers, args.seconds, sources))
    print("FLOOD " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
