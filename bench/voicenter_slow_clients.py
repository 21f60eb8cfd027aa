"""Hostile clients for bench/voicenter_receiver.py: connections that send half a request and then trickle one byte a
second, reconnecting whenever the server closes them (as a slowloris attack does).

Run: .venv/bin/python bench/voicenter_slow_clients.py --url http://127.0.0.1:8088 --clients 100 --seconds 15
Prints one line `SLOW {"opened": ..., "closed_by_server": ...}` at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from urllib.parse import urlsplit


async def slow_client(host: str, port: int, until: float, stats: dict, source: str | None) -> None:
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection(host, port, local_addr=(source, 0) if source else None)
        except OSError:
            stats["refused"] += 1
            await asyncio.sleep(0.1)
            continue
        stats["opened"] += 1
        try:
            writer.write(b"POST /voicenter/cdr HTTP/1.1\r\nHost: receiver\r\nContent-Type: application/json\r\n")
            await writer.drain()
            while time.monotonic() < until:
                writer.write(b"X")
                await writer.drain()
                try:
                    if await asyncio.wait_for(reader.read(1024), timeout=1.0) == b"":
                        break
                    stats["answered"] += 1
                    break
                except TimeoutError:
                    continue
            else:
                continue
            stats["closed_by_server"] += 1
        except OSError:
            stats["closed_by_server"] += 1
        finally:
            writer.close()
        # Refused or closed by the receiver: back at once, but for a pause that keeps this process from spinning
        # on the cores it shares with the receiver in the bench (bench/voicenter_flood.py, REFUSED_PAUSE).
        await asyncio.sleep(0.1)


async def run(url: str, clients: int, seconds: float, source: str | None = None) -> dict:
    parts = urlsplit(url)
    stats = {"opened": 0, "closed_by_server": 0, "answered": 0, "refused": 0}
    until = time.monotonic() + seconds
    await asyncio.gather(*(slow_client(parts.hostname, parts.port, until, stats, source) for _ in range(clients)))
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--source", help="the clients' source address (a loopback address of their own)")
    args = parser.parse_args()
    print("SLOW " + json.dumps(asyncio.run(run(args.url, args.clients, args.seconds, args.source))), flush=True)


if __name__ == "__main__":
    main()
