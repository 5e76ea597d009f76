"""What every browser test shares: Debian's chromium, a browser whose pages report every
console error, uncaught exception and Content-Security-Policy violation, and signing in."""

import shutil

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, WebError

from tests.factories import PASSWORD

__all__ = ["CHROMIUM", "WatchedBrowser", "requires_chromium", "sign_in"]

CHROMIUM = shutil.which("chromium")

requires_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="needs Debian's chromium: apt-get install -y chromium (.ci/run installs it)",
)

# Chromium logs CSP violations on the console; the event also reports those it may not
# (a violation in a frame, or the report of a future report-only policy). Init scripts run
# outside the page's CSP.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI}`);
});
"""


class WatchedBrowser:
    """A Playwright browser whose every context and page records what it reports as wrong:
    console errors (htmx's among them), uncaught exceptions and CSP violations. The
    `browser` fixture fails the test when `problems` is not empty."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.problems: list[str] = []

    def new_context(self, **options) -> BrowserContext:
        context = self.browser.new_context(**options)
        context.add_init_script(script=REPORT_CSP_VIOLATIONS)
        context.on("console", self._console)
        context.on("weberror", self._uncaught)
        return context

    def new_page(self, **options) -> Page:
        return self.new_context(**options).new_page()

    def _console(self, message: ConsoleMessage) -> None:
        # The browser's own favicon probe is the one failed load that says nothing of ours.
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            self.problems.append(f"{message.location.get('url', '')}: {message.text}")

    def _uncaught(self, error: WebError) -> None:
        self.problems.append(f"uncaught: {error.error}")


def sign_in(browser: WatchedBrowser, server, username: str, problems: list[str]) -> Page:
    """A fresh browser session signed in as `username`; failed requests (other than the
    browser's favicon probe) are added to `problems`."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)

    def on_response(response) -> None:
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            problems.append(f"{response.status} {response.url}")

    page.on("response", on_response)
    page.goto(f"{server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/")
    return page
