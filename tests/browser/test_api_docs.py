"""In a real browser: the API documentation (Swagger UI) renders under the site's strict
Content-Security-Policy without a single violation."""

from tests.browser.pages import requires_chromium

pytestmark = requires_chromium


def test_the_api_docs_render_without_content_security_policy_violations(browser, asgi_server):
    # The browser fixture fails the test on any CSP violation or console error.
    page = browser.new_page()
    response = page.goto(f"{asgi_server.url}/api/docs/")
    policy = response.headers["content-security-policy"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    page.wait_for_selector(".opblock", timeout=15000)  # operations listed from the schema
