"""Post CDRs to a cdr-receiver as Voicenter does: JSON, XML-RPC or form, re-sending until acknowledged."""

from __future__ import annotations

import json
import xmlrpc.client
from urllib.parse import urlencode

import requests

FORMATS = ("json", "xmlrpc", "form")


def encode(cdr: dict, fmt: str) -> tuple[bytes, str]:
    if fmt == "json":
        return json.dumps(cdr).encode(), "application/json"
    if fmt == "xmlrpc":
        return xmlrpc.client.dumps((cdr,), methodname="cdr.notify", allow_none=True).encode(), "text/xml"
    flat = {k: json.dumps(v) if isinstance(v, (list, dict)) else ("" if v is None else v) for k, v in cdr.items()}
    return urlencode(flat).encode(), "application/x-www-form-urlencoded"


def acknowledged(fmt: str, response: requests.Response) -> bool:
    if fmt == "json":
        return response.json().get("Err") == 0
    if fmt == "xmlrpc":
        return xmlrpc.client.loads(response.text)[0][0].get("Err") == 0
    return "Err=0" in response.text


def post(url: str, token: str, cdr: dict, fmt: str, session: requests.Session | None = None) -> requests.Response:
    body, content_type = encode(cdr, fmt)
    return (session or requests).post(
        f"{url}/voicenter/cdr", params={"token": token}, data=body, headers={"Content-Type": content_type}, timeout=10
    )


def post_all(url: str, token: str, cdrs: list[dict], resend_every: int = 5) -> int:
    """Post every CDR, rotating the formats; every ``resend_every``-th is sent twice, as Voicenter re-sends."""
    sent = 0
    with requests.Session() as session:
        for i, cdr in enumerate(cdrs):
            fmt = FORMATS[i % len(FORMATS)]
            for _ in range(2 if i % resend_every == 0 else 1):
                response = post(url, token, cdr, fmt, session)
                if response.status_code != 200 or not acknowledged(fmt, response):
                    raise RuntimeError(
                        f"receiver refused {cdr['ivruniqueid']} ({fmt}): {response.status_code} {response.text[:200]}"
                    )
                sent += 1
    return sent
