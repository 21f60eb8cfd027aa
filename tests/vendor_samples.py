"""The vendors' own published examples (tests/fixtures/vendor_samples/, copied verbatim with their provenance in
its README.md), read as a test feeds them to the product.

What is changed on the way, and only that:
  * KAZOO's 2015 document is prose with JSON in it, with two slips of its own: `"call_id": "{CALL_ID},` lacks a
    closing quote and `"other_leg_call_id": "{OTHER_LEG_CALL_ID}"` a comma, and `...` stands for more rows. The
    slips are fixed and the `...` dropped; no value is touched.
  * Its `{PLACEHOLDER}`s are template slots, not values: each is filled, per row, with a fresh value of the kind
    it names (`{CALL_ID}` a call id of its own per row, so that the rows stay distinct CDRs; the B-leg of the
    grouped example names its A-leg's call in `other_leg_call_id` and `bridge_id`, as the document says the legs
    go together; `{ACCOUNT_REALM}` the account's realm). `YYYYMM-` in an id becomes the month of the row.
  * Voicenter's `aiData` example is the block a CDR carries: it is sent inside the outgoing example of the same
    commit (b2a4031), as the vendor documents it.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).resolve().parent / "fixtures" / "vendor_samples"
KAZOO_DOC = SAMPLES / "kazoo" / "cdrs_list_and_grouped_2015_doc.txt"
VOICENTER = SAMPLES / "voicenter"
REALM = "realm.example.test"


def _json_blocks(text: str) -> list[Any]:
    """The JSON answers in KAZOO's document (indented blocks starting with `{"auth_token"`), slips fixed."""
    blocks, current = [], None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith('{"auth_token"'):
            current = [line]
        elif current is not None:
            if stripped == "...":  # "and more rows": not JSON
                continue
            current.append(line)
            if line.startswith("    }") and line.strip() == "}":
                blocks.append("\n".join(current))
                current = None
    fixed = []
    for block in blocks:
        block = block.replace('"call_id": "{CALL_ID},', '"call_id": "{CALL_ID}",')
        block = re.sub(r'("other_leg_call_id": "\{OTHER_LEG_CALL_ID\}")\s*\n(\s*"owner_id")', r"\1,\n\2", block)
        fixed.append(json.loads(block))
    return fixed


def _fill(row: dict, values: dict[str, str]) -> dict:
    filled = {}
    for key, value in row.items():
        if isinstance(value, str):
            for placeholder, actual in values.items():
                value = value.replace("{" + placeholder + "}", actual)
            if value.startswith("YYYYMM-"):
                value = row["datetime"][:4] + row["datetime"][5:7] + value[len("YYYYMM") :]
        filled[key] = value
    return filled


def kazoo_rows() -> list[dict]:
    """The four list rows of the document (two of `GET .../cdrs`, the two legs of `?grouped=true`), as Crossbar
    would list them: the grouped answer's legs are list rows too (`is_a_leg` kept as sent)."""
    listed, grouped = _json_blocks(KAZOO_DOC.read_text())
    rows = []
    for row in listed["data"]:
        call = str(uuid.uuid4())
        rows.append(
            _fill(
                row,
                {
                    "CALL_ID": call,
                    "OTHER_LEG_CALL_ID": str(uuid.uuid4()),
                    "BRIDGE_ID": call,
                    "ACCOUNT_REALM": REALM,
                },
            )
        )
    for group in grouped["data"]:
        for _a_leg_id, legs in group.items():
            a_call = str(uuid.uuid4())
            b_call = str(uuid.uuid4())
            a_leg, b_leg = legs
            rows.append(_fill(a_leg, {"CALL_ID": a_call, "OTHER_LEG_CALL_ID": b_call, "ACCOUNT_REALM": REALM}))
            rows.append(
                _fill(
                    b_leg,
                    {
                        "CALL_ID": b_call,
                        "OTHER_LEG_CALL_ID": a_call,
                        "BRIDGE_ID": a_leg["bridge_id"],
                        "ACCOUNT_REALM": REALM,
                    },
                )
            )
    return rows


def voicenter_webhook_bodies() -> dict[str, dict]:
    """Each webhook example by its file name (without `.json`); the aiData block inside the outgoing example of its
    commit."""
    bodies = {path.stem: json.loads(path.read_text()) for path in sorted(VOICENTER.glob("cdr_notification_*.json"))}
    ai = bodies.pop("cdr_notification_aiData_v_b2a4031")
    bodies["cdr_notification_outgoing_v_b2a4031_with_aiData"] = {
        **bodies.pop("cdr_notification_outgoing_v_b2a4031"),
        **ai,
    }
    return bodies


def voicenter_call_log_records() -> list[dict]:
    """The Call Log example's records, as the API answers them."""
    return json.loads((VOICENTER / "call_log_response_216ed4e.json").read_text())["CDR_LIST"]
