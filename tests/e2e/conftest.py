"""A real browser for the pages people open: Debian's Chromium driven by Playwright.

Skips, saying why, where either is missing; never downloads a browser."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@dataclass
class Visit:
    """A page and everything the browser said while showing it."""

    page: Any
    console: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    def on_console(self, message: Any) -> None:
        where = message.location.get("url", "")
        # Browsers ask every site for /favicon.ico by themselves; a page that names none is fine.
        if not where.endswith("/favicon.ico"):
            self.console.append(f"console {message.type}: {message.text} ({where})")

    def open(self, url: str) -> Any:
        response = self.page.goto(url, wait_until="networkidle")
        self.violations += self.page.evaluate("window.__violations || []")
        return response

    def problems(self) -> list[str]:
        # Read again: a violation may come after the load (a script's later request).
        self.violations = [*self.violations, *self.page.evaluate("window.__violations || []")]
        return [*self.console, *dict.fromkeys(self.violations)]


# Added to every document before its own scripts run (through the DevTools protocol, so the
# page's policy does not apply to it).
_RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const what = `${event.violatedDirective} blocked ${event.blockedURI || "inline"}`;
  window.__violations.push(`${what} in ${event.sourceFile}:${event.lineNumber}`);
});
"""


@pytest.fixture
def browser_visit() -> Iterator[Visit]:
    """Started inside the test, after its data is in the database: Playwright's sync API runs an
    event loop, and Django refuses database calls from a thread that has one."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser: the playwright package is not installed (pip install -e '.[dev]')")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"browser: no Chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            page = browser.new_page()
            visit = Visit(page)
            page.add_init_script(_RECORD_VIOLATIONS)
            page.on("console", visit.on_console)
            page.on("pageerror", lambda error: visit.console.append(f"page error: {error}"))
            yield visit
        finally:
            browser.close()
