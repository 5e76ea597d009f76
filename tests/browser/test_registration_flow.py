"""In a real browser: a builder registers an agent, the COE approves it, the builder
issues a key, and that key works on the API."""

import json
import os
import re
import urllib.request

import pytest

from governance import services as governance_services
from governance.models import MemberRole
from tests.browser.pages import requires_chromium, sign_in
from tests.factories import SYSTEM, make_agent, make_role, make_unit, make_user

pytestmark = requires_chromium


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


def call_me(server, secret: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{server.url}/api/v1/me/", headers={"Authorization": f"Bearer {secret}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def test_a_registered_and_approved_agent_gets_a_key_that_works_on_the_api(
    people, browser, asgi_server, tmp_path
):
    problems: list[str] = []
    assert os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] == "true"

    # The builder registers an agent through the form.
    builder = sign_in(browser, asgi_server, "bella", problems)
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
    coe = sign_in(browser, asgi_server, "carmen", problems)
    assert coe.inner_text("#nav-review-count") == "1"
    coe.click("#nav-review")
    assert "Matches supplier invoices" in coe.inner_text("#review-invoice-matcher")
    coe.click("#approve-invoice-matcher")
    coe.wait_for_selector("#review-empty")
    assert "Invoice matcher is now active." in coe.inner_text("main")

    # The builder sees it active, finds it by searching the list, and issues a key.
    builder.goto(f"{asgi_server.url}/agents/")
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
    status, me = call_me(asgi_server, secret)
    assert status == 200
    assert me["slug"] == "invoice-matcher"

    # The secret is never shown again.
    builder.reload()
    assert builder.locator("#new-key-secret").count() == 0
    assert secret not in builder.content()
    assert problems == []
