"""Fixtures of the browser tests: chromium, watched for errors, and the application served
over HTTP and websockets."""

import pytest

from tests.browser.pages import CHROMIUM, WatchedBrowser
from tests.browser.servers import AsgiServer


@pytest.fixture
def browser(monkeypatch, asgi_server):
    """Headless chromium; the test fails if any of its pages logged a console error, threw
    an uncaught exception or violated the Content-Security-Policy. It closes before the
    server stops (it depends on asgi_server), so a page's last requests never meet a
    server that is gone."""
    # Playwright's sync API runs an event loop in this thread; the test still talks to
    # the database synchronously, which Django would otherwise refuse.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        watched = WatchedBrowser(launched)
        yield watched
        launched.close()
    if watched.problems:
        pytest.fail("The pages reported:\n" + "\n".join(watched.problems), pytrace=False)


@pytest.fixture
def asgi_server(transactional_db):
    """The ASGI application under uvicorn, on the test database (a WAL file on SQLite, so
    that its threads and the test's share it safely: see tests/conftest.py)."""
    with AsgiServer() as server:
        yield server
