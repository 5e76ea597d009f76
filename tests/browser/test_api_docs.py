"""In a real browser: the API documentation (Swagger UI) renders under the site's strict
Content-Security-Policy without a single violation."""

import shutil

import pytest

CHROMIUM = shutil.which("chromium")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="needs Debian's chromium: apt-get install -y chromium (.ci/run installs it)",
)


@pytest.fixture
def browser(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture
def app_server(transactional_db):
    from tests.browser.servers import AsgiServer

    with AsgiServer() as server:
        yield server


def test_the_api_docs_render_without_content_security_policy_violations(browser, app_server):
    page = browser.new_page()
    console = []
    page.on("console", lambda message: console.append(message.text))
    response = page.goto(f"{app_server.url}/api/docs/")
    policy = response.headers["content-security-policy"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    page.wait_for_selector(".opblock", timeout=15000)  # operations listed from the schema
    violations = [text for text in console if "Content Security Policy" in text]
    assert violations == []
