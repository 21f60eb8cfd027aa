"""Every CDR_* setting is read in one typed place (cdr.settings), and the docs' table is generated from it."""

from __future__ import annotations

import re
import subprocess
from datetime import date
from pathlib import Path

import pytest

from cdr.settings import SettingsError, settings, with_table

ROOT = Path(__file__).resolve().parents[2]


def test_the_docs_table_is_the_one_the_settings_generate():
    text = (ROOT / "docs" / "configuration.md").read_text()
    assert with_table(text) == text, "run `.venv/bin/python -m cdr.settings docs/configuration.md`"


def test_every_cdr_variable_the_package_reads_is_a_declared_setting():
    """A variable read anywhere in the package by its name (in code, not only in prose) is declared: grep finds
    the names, independently of the class."""
    declared = {f"CDR_{name.upper()}" for name in type(settings()).model_fields}
    used = set()
    for path in (ROOT / "plugins" / "cdr").rglob("*.py"):
        for line in path.read_text().splitlines():
            code = line.split("#")[0]
            used |= set(re.findall(r"[\"'](CDR_[A-Z_]+[A-Z])[\"']", code))
    used -= {"CDR_LIST", "CDR_SITE_TIMEZONE_"}  # a Voicenter API field; the per-source prefix
    assert used <= declared, used - declared
    assert 'os.environ.get("CDR_' not in "".join(
        p.read_text() for p in (ROOT / "plugins" / "cdr").rglob("*.py") if p.name != "settings.py"
    )


def test_values_are_typed_empty_is_unset_and_a_bad_value_names_its_variable(monkeypatch):
    monkeypatch.setenv("CDR_RECEIVER_PORT", "9000")
    monkeypatch.setenv("CDR_REPORT_MASK_NUMBERS", "yes")
    monkeypatch.setenv("CDR_PULL_START_DATE", "2025-03-01")
    monkeypatch.setenv("CDR_WAREHOUSE_QUEUE", "")
    current = settings()
    assert current.receiver_port == 9000 and current.report_mask_numbers is True
    assert current.pull_start_date == date(2025, 3, 1) and current.warehouse_queue == ""
    monkeypatch.setenv("CDR_RECEIVER_PORT", "eighty")
    with pytest.raises(SettingsError, match="CDR_RECEIVER_PORT='eighty'"):
        settings()
    monkeypatch.setenv("CDR_RECEIVER_PORT", "0")
    with pytest.raises(SettingsError, match="CDR_RECEIVER_PORT"):
        settings()


def test_a_secret_is_never_shown(monkeypatch):
    monkeypatch.setenv("CDR_NUMBER_SALT", "s3cret-salt-value")
    assert "s3cret" not in repr(settings()) and "s3cret" not in str(settings().number_salt)
    assert settings().number_salt.get_secret_value() == "s3cret-salt-value"


def test_the_generator_writes_the_same_table(tmp_path):
    copy = tmp_path / "configuration.md"
    copy.write_text((ROOT / "docs" / "configuration.md").read_text())
    subprocess.run([ROOT / ".venv" / "bin" / "python", "-m", "cdr.settings", copy], check=True)
    assert copy.read_text() == (ROOT / "docs" / "configuration.md").read_text()
