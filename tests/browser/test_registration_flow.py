"""In a real browser: a builder registers an agent, the COE approves it, the builder
issues a key, and that key works on the API."""

import json
import os
import re
import shutil
import urllib.request

import pytest

from governance import services as governance_services
from governance.models import MemberRole
from tests.factories import PASSWORD, SYSTEM, make_agent, make_role, make_unit, make_user

CHROMIUM = shutil.which("chromium")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="needs Debian's chromium: apt-get install -y chromium (.ci/run installs it)",
)


@pytest.fixture
def people(transactional_db):
    """A business unit with a builder, the COE, a role, and one agent already at work."""
    unit = make_unit("procurement")
    role = make_role("buyer", patterns=("erp.purchase_order.*",))
    builder = make_user("bella")
    governance_services.add_membership(SYSTEM, builder, unit, MemberRole.BUILDER)
    coe = make_user("carmen", is_staff=True)
    governance_services.make_coe(SYSTEM, coe)
    make_agent(builder, unit, role, "po-drafter", approver=coe)
    return {"builder": builder, "coe": coe}


@pytest.fixture
def browser(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the test still talks to
    # the database synchronously, which Django would otherwise refuse.
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
    """The ASGI app under uvicorn: the pages open a websocket, which WSGI cannot serve."""
    from tests.browser.servers import AsgiServer

    with AsgiServer() as server:
        yield server


def sign_in(browser, live_server, username: str, problems: list[str]):
    """A fresh browser session signed in as `username`, collecting script errors (CSP
    violations among them) and failed requests other than the browser's favicon probe."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)

    def on_console(message) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(message.text)

    def on_response(response) -> None:
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            problems.append(f"{response.status} {response.url}")

    page.on("console", on_console)
    page.on("response", on_response)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    return page


def call_me(live_server, secret: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{live_server.url}/api/v1/me/", headers={"Authorization": f"Bearer {secret}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def test_a_registered_and_approved_agent_gets_a_key_that_works_on_the_api(
    people, browser, app_server, tmp_path
):
    problems: list[str] = []
    assert os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] == "true"

    # The builder registers an agent through the form.
    builder = sign_in(browser, app_server, "bella", problems)
    builder.click("nav >> text=Register agent")
    builder.fill("#id_slug", "invoice-matcher")
    builder.fill("#id_name", "Invoice matcher")
    builder.fill("#id_purpose", "Matches supplier invoices to purchase orders.")
    builder.select_option("#id_role", label="Buyer")
    builder.fill("#id_capabilities", "invoices, matching")
    builder.click("text=Submit for review")
    builder.wait_for_url(re.compile(r"/agents/invoice-matcher/$"))
    assert builder.inner_text("#agent-state") == "Pending review"
    assert builder.locator("#issue-key-form").count() == 1  # owners may prepare keys early

    # The COE finds it in the review queue and approves it.
    coe = sign_in(browser, app_server, "carmen", problems)
    assert coe.inner_text("#nav-review-count") == "1"
    coe.click("#nav-review")
    assert "Matches supplier invoices" in coe.inner_text("#review-invoice-matcher")
    coe.click("#approve-invoice-matcher")
    coe.wait_for_selector("#review-empty")
    assert "Invoice matcher is now active." in coe.inner_text("main")

    # The builder sees it active, finds it by searching the list, and issues a key.
    builder.goto(f"{app_server.url}/agents/")
    builder.fill("#id_q", "invoice")
    builder.wait_for_url(re.compile(r"/agents/\?.*q=invoice"))
    # A selector wait, not wait_for_function: the strict CSP forbids evaluating strings.
    builder.wait_for_selector("#agent-table tbody tr:only-child")
    builder.screenshot(path=tmp_path / "agents-list.png", full_page=True)
    builder.click("#agent-table >> text=Invoice matcher")
    builder.wait_for_url(re.compile(r"/agents/invoice-matcher/$"))
    assert builder.inner_text("#agent-state") == "Active"
    builder.fill("#id_key_name", "production worker")
    builder.click("#issue-key")
    secret = builder.inner_text("#new-key-secret").strip()
    assert "will not be shown again" in builder.inner_text("#new-key")
    assert "agent.key_issued" in builder.inner_text("#ledger")
    builder.screenshot(path=tmp_path / "agent-detail.png", full_page=True)

    # The key works for the agent itself.
    status, me = call_me(app_server, secret)
    assert status == 200
    assert me["slug"] == "invoice-matcher"

    # The secret is never shown again.
    builder.reload()
    assert builder.locator("#new-key-secret").count() == 0
    assert secret not in builder.content()
    assert problems == []
