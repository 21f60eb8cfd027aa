"""http_build_query against PHP itself, over many generated inputs (php-cli; `make test` installs it)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess

import pytest

from cdr.sources.pbx.phpquery import api_hash, http_build_query, parse_str

ALPHABET = [*"abcXYZ019 _-.~+&=[]%#?/\\'\"\t\n", "ș", "ă", "î", "ü", "日本", "😀", "€", ""]


def text(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 8)))


def value(rng: random.Random, depth: int = 0):
    kind = rng.choices(
        ["str", "int", "bool", "null", "list", "dict"],
        weights=[6, 3, 2, 2, 0 if depth > 2 else 2, 0 if depth > 2 else 2],
    )[0]
    if kind == "str":
        return text(rng)
    if kind == "int":
        return rng.choice([0, 1, -7, 42, 2**40, rng.randint(-(10**6), 10**6)])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        return [value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {text(rng) or "k": value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def generated(count: int = 600) -> list[dict]:
    rng = random.Random(20261122)
    cases = [
        {
            "page": 1,
            "filters": {
                "date_between": ["2026-11-20 00:00:00", "2026-11-20 23:59:59"],
                "project_id": None,
                "direction": "IN",
                "call_status": "NO ANSWER",
            },
        }
    ]
    cases += [{text(rng) or "p": value(rng) for _ in range(rng.randint(1, 5))} for _ in range(count)]
    return cases


PHP = r"""
while (($line = fgets(STDIN)) !== false) {
    echo http_build_query(json_decode($line, true)), "\n";
}
"""


@pytest.fixture(scope="module")
def php() -> str:
    path = shutil.which("php")
    if path is None:
        pytest.fail(
            "php-cli is needed to check the encoder against PHP: `make test` installs it (apt-get install php-cli)"
        )
    return path


def test_http_build_query_is_byte_identical_to_php(php):
    cases = generated()
    stdin = "".join(json.dumps(case, ensure_ascii=False) + "\n" for case in cases)
    result = subprocess.run([php, "-r", PHP], input=stdin, capture_output=True, text=True, check=True)
    expected = result.stdout.split("\n")[:-1]
    assert len(expected) == len(cases)
    mismatches = [
        (case, php_out, http_build_query(case))
        for case, php_out in zip(cases, expected)
        if http_build_query(case) != php_out
    ]
    assert mismatches == []
    # The inputs covered what the vendor's server is picky about.
    joined = "&".join(expected)
    for piece in ("%5B", "+", "%2B", "%26", "%3D", "%7E", "%C8%99", "=&", "=1", "=0"):
        assert piece in joined


def test_the_vendor_example_signature(php):
    params = {
        "page": 1,
        "filters": {
            "date_between": ["2024-01-01 00:00:00", "2024-01-15 23:59:59"],
            "project_id": None,
            "user_id": None,
            "has_recording_file": None,
        },
    }
    script = (
        "$p = ['page' => 1, 'filters' => ['date_between' => ['2024-01-01 00:00:00', '2024-01-15 23:59:59'],"
        " 'project_id' => null, 'user_id' => null, 'has_recording_file' => null]];"
        " echo md5(http_build_query($p) . 'your_api_key');"
    )
    assert (
        api_hash(params, "your_api_key")
        == subprocess.run([php, "-r", script], capture_output=True, text=True, check=True).stdout
    )
    assert http_build_query(params) == (
        "page=1&filters%5Bdate_between%5D%5B0%5D=2024-01-01+00%3A00%3A00"
        "&filters%5Bdate_between%5D%5B1%5D=2024-01-15+23%3A59%3A59"
    )


def test_parse_str_reads_back_what_was_built():
    params = {
        "page": 3,
        "filters": {
            "date_between": ["2026-11-20 00:00:00", "2026-11-20 23:59:59"],
            "from_id": 17,
            "telephone_like": "+40 7&2=[x]",
        },
        "api_hash": "ab",
    }
    parsed = parse_str(http_build_query(params))
    assert parsed == {
        "page": "3",
        "filters": {
            "date_between": {"0": "2026-11-20 00:00:00", "1": "2026-11-20 23:59:59"},
            "from_id": "17",
            "telephone_like": "+40 7&2=[x]",
        },
        "api_hash": "ab",
    }
    assert http_build_query(parsed) == http_build_query(params)


def test_floats_are_refused_rather_than_signed_wrong():
    with pytest.raises(TypeError, match="floats"):
        http_build_query({"a": 1.5})
