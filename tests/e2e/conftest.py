"""A real browser for the pages people open: Debian's Chromium driven by Playwright.

Skips, saying why, where either is missing; never downloads a browser."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

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


T = TypeVar("T")


def off_the_loop(read: Callable[[], T]) -> T:
    """A database read while the browser runs: Playwright's event loop owns this thread, and
    Django refuses database calls from a thread that has one."""
    from django.db import connections

    def read_and_close() -> T:
        try:
            return read()
        finally:
            connections.close_all()  # the thread's own connection, not left open behind the test

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(read_and_close).result()


# --- The dashboard: staff who sign in for real, and the checks every page must pass ----------------

STAFF_PASSWORD = "a long enough pass phrase 2026"


@dataclass(frozen=True)
class StaffLogin:
    """What a staff member types at the sign-in page: read from the database before the browser
    starts (its event loop forbids database calls), so the code is computed from the key alone."""

    username: str
    password: str
    key: bytes
    step: int
    digits: int
    recovery_codes: tuple[str, ...]

    def code(self) -> str:
        from django_otp.oath import TOTP

        totp = TOTP(self.key, step=self.step, digits=self.digits)
        return str(totp.token()).zfill(self.digits)


def staff_login(user: Any) -> StaffLogin:
    """Give `user` (already saved) the suite's password, an authenticator and recovery codes."""
    from clinic.services.mfa import mfa_enroll

    user.set_password(STAFF_PASSWORD)
    user.save(update_fields=["password"])
    enrolment = mfa_enroll(user=user)
    device = enrolment.device
    return StaffLogin(
        username=user.username,
        password=STAFF_PASSWORD,
        key=device.bin_key,
        step=device.step,
        digits=device.digits,
        recovery_codes=tuple(enrolment.recovery_codes),
    )


def sign_in(
    visit: Visit, base_url: str, login: StaffLogin, *, next_path: str = "", use_recovery: int | None = None
) -> Any:
    """The real sign-in: username, password and the authenticator's current code in one form.
    A second sign-in of the same member inside one 30-second step takes a recovery code
    (`use_recovery=i`): an authenticator code works once."""
    page = visit.page
    url = f"{base_url}/sign-in/" + (f"?next={next_path}" if next_path else "")
    visit.open(url)
    page.fill("input[name=username]", login.username)
    page.fill("input[name=password]", login.password)
    page.fill("input[name=code]", login.recovery_codes[use_recovery] if use_recovery is not None else login.code())
    with page.expect_navigation():
        page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return page


SERIOUS = {"serious", "critical"}


def accessibility_problems(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page as it stands."""
    from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]

    results = Axe().run(page)
    problems = []
    for violation in results.response.get("violations", []):
        if violation.get("impact") in SERIOUS:
            targets = [" ".join(node.get("target", [])) for node in violation.get("nodes", [])][:3]
            problems.append(f"{violation['id']} ({violation['impact']}): {violation['help']} at {targets}")
    return problems


def check_page(visit: Visit) -> None:
    """What every dashboard page must pass: no CSP violation or console error, no serious or
    critical accessibility violation."""
    assert visit.problems() == []
    assert accessibility_problems(visit.page) == []
