"""`make demo` prints one readable line per DAG, made from the summary its task logs (include/demo/run_demo.py)."""

from __future__ import annotations

import run_demo

KAZOO = (
    "2026-12-01T10:03:19.664778Z [info     ] KAZOO: interval 2026-11-20 00:00:00+00:00 .. 2026-11-21 00:00:00+00:00 "
    "done: {'interval_start': '2026-11-20T00:00:00+00:00', 'interval_end': '2026-11-21T00:00:00+00:00', "
    "'pages': 3, 'rows_seen': 120, 'rows_written': 120, 'repeated_at_page_edge': 0, 'quarantined': 0, "
    "'files': 1} [cdr.sources.pull] loc=pull.py:99"
)
ENIGMA = (
    "2026-12-01T10:03:56.665113Z [info     ] Enigma: drain done: {'keys': {'enigma:notifications:campaigns': "
    "{'batches': 1, 'messages': 205, 'stored': 204, 'quarantined': 1}, 'enigma:notifications:c2d': "
    "{'batches': 1, 'messages': 5, 'stored': 5, 'quarantined': 0}}, 'seconds': 0.052, "
    "'stopped_by_budget': False} [cdr.sources.enigma.drain] loc=drain.py:170"
)
VOICENTER = (
    "2026-12-01T10:04:23.267340Z [info     ] Voicenter: load done: {'segments': 1, 'cdrs': 58, "
    "'quarantined': 0} (segments still being written are left for the next run) [cdr.sources.voicenter.load]"
)


def test_each_dag_gets_one_whole_line():
    assert run_demo.pull_summary("KAZOO", "done: ")("noise\n" + KAZOO + "\n") == (
        "KAZOO: 120 CDRs from 3 page(s) for 2026-11-20 00:00 to 2026-11-21 00:00 UTC, 0 quarantined"
    )
    assert run_demo.enigma_summary(ENIGMA) == "Enigma: 210 messages drained from 2 list(s), 209 stored, 1 quarantined"
    assert run_demo.voicenter_summary(VOICENTER) == "Voicenter: 58 CDRs loaded from 1 segment(s), 0 quarantined"


def test_the_warehouse_and_report_lines(monkeypatch, tmp_path):
    monkeypatch.setenv("CDR_DATA_DIR", str(tmp_path))
    log = (
        f"x [info     ] dbt: 10:05:02  Done. PASS=106 WARN=0 ERROR=0 SKIP=0 NO-OP=0 TOTAL=106 [cdr.warehouse.build]\n"
        f"x [info     ] published {tmp_path / 'warehouse.duckdb'}: {{'marts.dim_agent': 17, 'marts.fct_call': 360, "
        f"'marts.fct_cdr': 430}} [cdr.warehouse.build] loc=warehouse.py:141\n"
    )
    assert (
        run_demo.warehouse_summary(log)
        == "warehouse: 430 legs, 360 calls, 3 tables published; dbt build PASS=106 WARN=0 ERROR=0"
    )
    report = "x report for 2026-11-20 written to /d/reports/2026-11-20 in 1.2s (warehouse published ...)\n"
    assert run_demo.report_summary(report) == "report for 2026-11-20 written to /d/reports/2026-11-20, not mailed"
