"""In a real browser: the API documentation (Swagger UI) renders under the site's strict
Content-Security-Policy without a single violation."""

import pytest

from tests.browser.test_registration_flow import CHROMIUM, app_server, browser  # noqa: F401

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="needs Debian's chromium: apt-get install -y chromium (.ci/run installs it)",
)


def test_the_api_docs_render_without_content_security_policy_violations(
    browser,  # noqa: F811 (the fixture imported above)
    app_server,  # noqa: F811
):
    page = browser.new_page()
    console = []
    page.on("console", lambda message: console.append(message.text))
    response = page.goto(f"{app_server.url}/api/docs/")
    policy = response.headers["content-security-policy"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    page.wait_for_selector(".opblock", timeout=15000)  # operations listed from the schema
    violations = [text for text in console if "Content Security Policy" in text]
    assert violations == []
