"""The dbt exposures name what their readers really read: a mart the daily report queries, or one the analysts'
files publish, missing from its exposure would hide it from `dbt ls --select +exposure:...` and the lineage."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
MARTS = ROOT / "dbt_project" / "models" / "marts"


def exposure(name: str) -> set[str]:
    exposures = yaml.safe_load((MARTS / "_marts__exposures.yml").read_text())["exposures"]
    (found,) = [e for e in exposures if e["name"] == name]
    return {re.fullmatch(r"ref\('(\w+)'\)", ref).group(1) for ref in found["depends_on"]}


def test_the_daily_report_exposure_lists_every_mart_the_report_queries():
    texts = [p.read_text() for p in (ROOT / "include" / "reports").glob("*.sql")]
    texts += [p.read_text() for p in (ROOT / "plugins" / "cdr" / "reporting").glob("*.py")]
    queried = {name for text in texts for name in re.findall(r"\bmarts\.(\w+)", text)}
    assert queried and exposure("daily_report") == queried


def test_the_analysts_exposure_lists_every_published_mart():
    models = {p.stem for p in [*MARTS.glob("*.sql"), *MARTS.glob("*.py")]}
    assert models and exposure("analysts_warehouse") == models
