"""The daily report's page in Debian's chromium (through Playwright), loaded from file:// at a phone's and a
desktop's width: it fetches nothing, fits the screen, shows the headline as the CSV has it, and its tables lay
out without wrapping.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.conftest import ARTIFACTS, ROOT
from tests.e2e.report_oracle import (  # noqa: F401 (base, reports_root, first_day: fixtures)
    DEMO_DAY,
    PCT,
    SECONDS,
    base,
    first_day,
    read_csv,
    report,
    reports_root,
)

pytestmark = pytest.mark.e2e
BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium, installed with the project's helper when missing (never Playwright's downloads)."""
    path = shutil.which("chromium")
    if not path:
        subprocess.run([str(ROOT / "scripts" / "need.sh"), "chromium=chromium"], check=True)
        path = shutil.which("chromium")
    assert path, "chromium is missing and could not be installed: apt-get install chromium"
    return path


def test_the_page_in_a_real_browser(base, reports_root, chromium):
    from playwright.sync_api import sync_playwright

    directory = report(base, reports_root, DEMO_DAY, "demo")
    page_file = directory / "report.html"
    url = page_file.as_uri()
    source = page_file.read_text()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in source
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//|<script""", source)
    headline = {r["kpi"]: r for r in read_csv(directory / "headline.csv")}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=BROWSER_ARGS)
        try:
            for name, viewport in (
                ("phone", {"width": 390, "height": 844}),
                ("desktop", {"width": 1280, "height": 900}),
            ):
                page, problems, requests = watched_page(browser, viewport)
                page.goto(url, wait_until="load")
                page.screenshot(path=str(ARTIFACTS / f"report-{name}.png"), full_page=True)
                assert problems == [] and requests == [url]
                # Fits the screen: no sideways scrolling of the page itself.
                assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
                shown = dict(
                    page.eval_on_selector_all(
                        "#headline .card", "cards => cards.map(c => [c.dataset.kpi, c.querySelector('.v').textContent])"
                    )
                )
                assert shown == {k: _card_text(r) for k, r in headline.items()}
                page.close()
        finally:
            browser.close()


def watched_page(browser, viewport: dict):
    """A new page, with the console errors, page errors and requests it will see."""
    page = browser.new_page(viewport=viewport)
    problems, requests = [], []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: requests.append(r.url))
    return page, problems, requests


def _card_text(row: dict) -> str:
    if row["value"] == "":
        return "–"
    if row["kind"] == PCT:
        return f"{float(row['value']):.1f} %"
    if row["kind"] == SECONDS:
        return f"{float(row['value']):.0f} s"
    return f"{int(row['value']):,}"


# Run in the page: every change (.delta) on one line, every value cell no taller than its value line and its
# change line, and no header hyphenated or with a word split over two lines. The <details> are opened first, so
# that the tables inside them are laid out too.
LAYOUT_PROBLEMS = """() => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  const problems = [];
  const where = el => (el.closest('section, dl') || {}).id + ': ' + el.textContent.trim().slice(0, 40);
  const lineHeight = el => parseFloat(getComputedStyle(el).lineHeight);
  for (const el of document.querySelectorAll('.cmp.delta')) {
    const height = el.getBoundingClientRect().height;
    if (height > 1.5 * lineHeight(el)) problems.push(`change wraps (${height}px): ${where(el)}`);
  }
  for (const td of document.querySelectorAll('td')) {
    if (td.matches(':first-child') || td.classList.contains('text') || !td.textContent.trim()) continue;
    // The height of what the cell holds (the row may be taller: a label in the first column that wraps).
    const range = document.createRange();
    range.selectNodeContents(td);
    const inner = range.getBoundingClientRect().height;
    const note = td.querySelector('.cmp');
    const lines = lineHeight(td) + (note ? lineHeight(note) : 0);
    if (inner > lines + 2) problems.push(`cell wraps (${inner}px > ${lines}px): ${where(td)}`);
  }
  for (const th of document.querySelectorAll('th')) {
    if (th.textContent.includes('\\u00ad')) problems.push(`soft hyphen in header: ${where(th)}`);
    const walker = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const node = walker.currentNode, words = /\\S+/g;
      let m;
      while ((m = words.exec(node.data))) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        if (range.getClientRects().length > 1) problems.push(`header word split: ${m[0]} in ${where(th)}`);
      }
    }
  }
  return problems;
}"""


@pytest.mark.parametrize("which", ["demo", "first-day"])
def test_tables_lay_out_without_wrapping_at_phone_and_desktop_widths(base, reports_root, first_day, chromium, which):
    from playwright.sync_api import sync_playwright

    directory = report(base, reports_root, DEMO_DAY, "demo") if which == "demo" else first_day
    url = (directory / "report.html").as_uri()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=BROWSER_ARGS)
        try:
            for width in (390, 1280):
                page, problems, _ = watched_page(browser, {"width": width, "height": 900})
                page.goto(url, wait_until="load")
                found = page.evaluate(LAYOUT_PROBLEMS)
                page.screenshot(path=str(ARTIFACTS / f"report-layout-{which}-{width}.png"), full_page=True)
                assert problems == []
                assert found == [], f"{which} at {width} px:\n" + "\n".join(found)
                # The page itself never scrolls sideways; a wide table scrolls inside its own box.
                assert page.evaluate("document.documentElement.scrollWidth") <= width
                assert page.evaluate("document.querySelectorAll('.cmp.delta').length") > 20
                page.close()
        finally:
            browser.close()
