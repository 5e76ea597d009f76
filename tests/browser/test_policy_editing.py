"""In a real browser: COE staff edit a draft's rule in the admin; the condition is checked
as they type (htmx, under the strict CSP) and a variable from the panel goes in with a click;
then they publish through the diff and its confirmation."""

import re

import pytest

from governance import policies
from governance.models import PolicyVersion
from tests.browser.pages import requires_chromium, sign_in
from tests.browser.test_inbox_live import off_the_loop
from tests.browser.test_registration_flow import people  # noqa: F401 (fixtures)
from tests.factories import SYSTEM
from workflows.models import ActionType

pytestmark = requires_chromium


@pytest.fixture
def drafted(people):  # noqa: F811
    """A purchasing policy's first draft with one rule, made before the browser starts (its
    event loop would give this thread a connection nobody closes)."""
    ActionType.objects.create(
        name="erp.purchase_order.create",
        payload_schema={"type": "object", "properties": {"amount": {"type": "number"}}},
    )
    policy = policies.create_policy(SYSTEM, "purchasing", "Purchasing")
    draft = policy.versions.get()
    rule = policies.add_rule(
        SYSTEM, draft, name="POs", action_pattern="erp.purchase_order.*", effect="allow"
    )
    return draft, rule


def test_coe_staff_edit_a_rule_checked_as_they_type_and_publish_it_after_the_diff(
    drafted,
    browser,
    tmp_path,
    asgi_server,
):
    draft, rule = drafted
    problems: list[str] = []
    page = sign_in(browser, asgi_server, "carmen", problems)

    page.goto(f"{asgi_server.url}/admin/governance/policyversion/{draft.pk}/change/")
    assert "erp.purchase_order.*" in page.inner_text("#rules")
    page.click("#rules >> text=POs")
    page.wait_for_url(re.compile(rf"/admin/governance/rule/{rule.pk}/change/$"))
    page.wait_for_selector("#condition-variables button[data-insert='payload.amount']")

    page.fill("#id_condition", "")
    page.type("#id_condition", 'payload.currency != "EUR" && 2000 > "x"')
    error = page.wait_for_selector(".condition-error")
    assert "line 1, column 30" in error.inner_text()

    page.fill("#id_condition", "")
    page.click("#condition-variables button[data-insert='payload.amount']")
    page.type("#id_condition", " < 5000")
    page.wait_for_selector(".condition-ok")
    assert page.input_value("#id_condition") == "payload.amount < 5000"
    page.screenshot(path=tmp_path / "rule.png", full_page=True)
    page.click("input[name=_save]")
    page.wait_for_url(re.compile(rf"/admin/governance/policyversion/{draft.pk}/change/$"))
    assert "payload.amount < 5000" in page.inner_text("#rules")
    page.screenshot(path=tmp_path / "version.png", full_page=True)

    page.click("text=Publish…")
    page.wait_for_selector("text=Yes, publish")
    assert "payload.amount < 5000" in page.inner_text("#content-main")
    page.screenshot(path=tmp_path / "publish.png", full_page=True)
    page.click("text=Yes, publish")
    page.wait_for_selector("text=Purchasing v1 published.")
    state = off_the_loop(lambda: PolicyVersion.objects.get(pk=draft.pk).state)
    assert state == PolicyVersion.State.PUBLISHED
    assert problems == []
