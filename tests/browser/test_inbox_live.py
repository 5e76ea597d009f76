"""In a real browser, over a real websocket: a supervisor has the inbox open, an escalation
arrives and appears without a reload, the supervisor approves it, and every open page
shows the new state.

pytest-django's live_server speaks WSGI only, so the ASGI application (HTTP and
websockets) runs here under uvicorn in a thread, on the test database."""

import threading

import pytest
from django.db import connection

from governance import services as governance_services
from governance.models import MemberRole
from tests.browser.pages import requires_chromium, sign_in
from tests.factories import SYSTEM, make_agent, make_role, make_unit, make_user
from tests.workflows.test_inbox import make_governed, submit
from workflows import inbox as inbox_services
from workflows.models import ActionRequest, ActionState, Escalation

pytestmark = requires_chromium


@pytest.fixture
def people(transactional_db):
    """A purchasing unit with a supervisor, the agent's owner, and an agent at work."""
    unit = make_unit("procurement")
    supervisor = make_user("sam")
    governance_services.add_membership(SYSTEM, supervisor, unit, MemberRole.SUPERVISOR)
    owner = make_user("bella")
    governance_services.add_membership(SYSTEM, owner, unit, MemberRole.BUILDER)
    coe = make_user("carmen", is_staff=True)
    governance_services.make_coe(SYSTEM, coe)
    agent = make_agent(owner, unit, make_role("buyer"), "po-drafter", approver=coe)
    make_governed()
    return {"agent": agent, "supervisor": supervisor, "coe": coe, "unit": unit}


def off_the_loop(function, *args):
    """Run database work in a thread of its own and return its result: this thread runs
    the browser's event loop, where Django would open a connection it never closes and
    the push after commit could not run."""
    results: list = []

    def run():
        try:
            results.append(function(*args))
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    (result,) = results
    return result


def escalate(agent, payload: dict):
    """Open an escalation as the gateway would."""
    return off_the_loop(submit, agent, payload)


def wait_until_live(page) -> None:
    page.wait_for_selector('#live-status[data-live-status="open"]')


def test_an_escalation_appears_live_and_its_approval_shows_everywhere(
    people,
    browser,
    asgi_server,
    tmp_path,
):
    problems: list[str] = []
    inbox = sign_in(browser, asgi_server, "sam", problems)
    inbox.click("#nav-inbox")
    inbox.wait_for_selector("#inbox-empty")
    wait_until_live(inbox)
    inbox.evaluate("window.notReloaded = true")

    escalation = escalate(people["agent"], {"amount": 5000, "supplier": "ACME"})
    row = f"#escalation-{escalation.pk}"
    inbox.wait_for_selector(row)
    assert inbox.evaluate("window.notReloaded") is True
    assert inbox.locator("#inbox-empty").count() == 0
    assert "erp.purchase_order.create" in inbox.inner_text(row)
    assert "Open" in inbox.inner_text(f"{row}-state")
    # A later one of the same priority is due later: most urgent first puts it below.
    later = escalate(people["agent"], {"amount": 6000, "supplier": "ACME"})
    inbox.wait_for_selector(f"#escalation-{later.pk}")
    order = [tr.get_attribute("id") for tr in inbox.locator("#inbox-rows tr").all()]
    assert order == [f"escalation-{escalation.pk}", f"escalation-{later.pk}"]
    inbox.screenshot(path=tmp_path / "inbox-live.png", full_page=True)

    # The supervisor reviews it in another tab and approves; the inbox tab follows.
    review = inbox.context.new_page()
    review.goto(f"{asgi_server.url}/workflows/inbox/{escalation.pk}/")
    wait_until_live(review)
    assert "ACME" in review.inner_text("#payload-fields")
    review.fill("#approve-form textarea[name=note]", "Within budget.")
    review.click("#approve-button")
    review.wait_for_selector("#decision-notice")
    assert "queued for execution" in review.inner_text("#decision-notice")
    assert review.inner_text("#action-state") in ("Queued", "Executing", "Succeeded")
    # Selector waits, not wait_for_function: the strict CSP forbids evaluating strings.
    review.wait_for_selector(f"{row}[data-state=approved]", timeout=10_000)
    inbox.wait_for_selector(f"{row}[data-state=approved]", timeout=10_000)
    assert "Approved" in inbox.inner_text(f"{row}-state")
    assert inbox.evaluate("window.notReloaded") is True
    review.screenshot(path=tmp_path / "escalation-approved.png", full_page=True)

    action = off_the_loop(
        lambda: ActionRequest.objects.select_related("approved_by").get(pk=escalation.action_id)
    )
    assert action.state in (ActionState.QUEUED, ActionState.EXECUTING, ActionState.SUCCEEDED)
    assert action.approved_by == people["supervisor"]
    assert problems == []


def test_after_a_dropped_connection_the_inbox_catches_up_from_the_database(
    people,
    browser,
    asgi_server,
):
    problems: list[str] = []
    inbox = sign_in(browser, asgi_server, "sam", problems)
    inbox.goto(f"{asgi_server.url}/workflows/inbox/")
    wait_until_live(inbox)
    inbox.evaluate("window.notReloaded = true")
    # The connection drops; an escalation arrives while the page cannot be told.
    asgi_server.drop_websockets()
    inbox.wait_for_selector('#live-status[data-live-status="closed"]')
    missed = escalate(people["agent"], {"amount": 5000, "supplier": "ACME"})
    # Reconnected, the page re-fetches its rows from the server and shows what it missed.
    inbox.wait_for_selector(f"#escalation-{missed.pk}", timeout=20_000)
    wait_until_live(inbox)
    assert inbox.evaluate("window.notReloaded") is True
    assert problems == []


def test_an_escalation_handed_to_a_supervisor_arrives_in_assigned_to_me_live(
    people,
    browser,
    asgi_server,
    tmp_path,
):
    unit = people["unit"]
    colleague = off_the_loop(make_user, "nina")
    off_the_loop(governance_services.add_membership, SYSTEM, colleague, unit, MemberRole.SUPERVISOR)
    problems: list[str] = []
    # Sam has "Assigned to me" open in one tab and the whole inbox in another.
    mine = sign_in(browser, asgi_server, "sam", problems)
    mine.goto(f"{asgi_server.url}/workflows/inbox/?assigned=me")
    mine.wait_for_selector("#inbox-empty")
    everything = mine.context.new_page()
    everything.goto(f"{asgi_server.url}/workflows/inbox/")
    for page in (mine, everything):
        wait_until_live(page)
        page.evaluate("window.notReloaded = true")
        assert page.inner_text("#assigned-count") == "0"

    # Someone else's: it reaches the whole inbox, never Sam's "Assigned to me".
    stranger = escalate(people["agent"], {"amount": 4000, "supplier": "Initech"})
    everything.wait_for_selector(f"#escalation-{stranger.pk}")
    waiting = escalate(people["agent"], {"amount": 5000, "supplier": "ACME"})

    # Nina hands the second one to Sam from its page.
    other = sign_in(browser, asgi_server, "nina", problems)
    other.goto(f"{asgi_server.url}/workflows/inbox/{waiting.pk}/")
    other.select_option("#reassign-form select[name=person]", "sam")
    other.fill("#reassign-form textarea[name=note]", "Sam knows this supplier.")
    other.click("#reassign-button")
    other.wait_for_selector("#decision-outcome")
    handed = off_the_loop(lambda: Escalation.objects.get(previous=waiting))

    row = f"#escalation-{handed.pk}"
    mine.wait_for_selector(f'{row}[data-state="open"]')
    assert "for sam" in mine.inner_text(row)
    # One socket delivers in order: the stranger's row came (and was refused) before this.
    assert mine.locator(f"#escalation-{stranger.pk}").count() == 0
    assert mine.locator("#inbox-empty").count() == 0
    everything.wait_for_selector(row)
    for page in (mine, everything):
        assert page.inner_text("#assigned-count") == "1"
    mine.screenshot(path=tmp_path / "assigned-to-me-live.png", full_page=True)

    # It leaves Sam's hands: the COE suspends the agent, which cancels the escalation.
    off_the_loop(inbox_services.suspend_agent, people["coe"], people["agent"], "Paused for review.")
    for page in (mine, everything):
        page.wait_for_selector(f'{row}[data-state="cancelled"]')
        assert page.inner_text("#assigned-count") == "0"
        assert page.evaluate("window.notReloaded") is True
    assert problems == []


def test_an_escalation_decided_elsewhere_updates_its_open_page_without_a_reload(
    people,
    browser,
    asgi_server,
):
    problems: list[str] = []
    escalation = escalate(people["agent"], {"amount": 5000, "supplier": "ACME"})
    page = sign_in(browser, asgi_server, "sam", problems)
    page.goto(f"{asgi_server.url}/workflows/inbox/{escalation.pk}/")
    wait_until_live(page)
    page.wait_for_selector("#approve-form")
    page.evaluate("window.notReloaded = true")

    # The COE approves it meanwhile: Sam's panel shows the outcome instead of its forms.
    off_the_loop(inbox_services.approve, people["coe"], escalation, "Checked by the COE.")
    page.wait_for_selector("#decision-outcome", timeout=10_000)
    assert "approved" in page.inner_text("#decision-outcome")
    assert "carmen" in page.inner_text("#decision-outcome")
    assert page.locator("#approve-form").count() == 0
    assert page.evaluate("window.notReloaded") is True
    assert problems == []


def test_a_decision_posted_after_resizing_a_note_field_applies_no_inline_style(
    people,
    browser,
    asgi_server,
):
    problems: list[str] = []
    escalation = escalate(people["agent"], {"amount": 5000, "supplier": "ACME"})
    page = sign_in(browser, asgi_server, "sam", problems)
    page.goto(f"{asgi_server.url}/workflows/inbox/{escalation.pk}/")
    wait_until_live(page)
    # Sam drags the reason field's corner: the browser gives it a style attribute, which
    # the swapped-in panel must not inherit (the strict CSP forbids inline styles).
    reason = page.locator("#reject-form textarea")
    box = reason.bounding_box()
    page.mouse.move(box["x"] + box["width"] - 3, box["y"] + box["height"] - 3)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 3, box["y"] + box["height"] + 60, steps=5)
    page.mouse.up()
    assert "height" in reason.get_attribute("style")

    page.click("#claim-button")
    page.wait_for_selector("#decision-notice")
    assert page.locator("#decision-panel [style]").count() == 0
    assert problems == []
    # The browser fixture fails the test on the CSP violation htmx's settling would cause.


def test_a_decision_whose_answer_comes_after_the_sockets_news_shows_its_notice(
    people,
    browser,
    asgi_server,
):
    problems: list[str] = []
    escalation = escalate(people["agent"], {"amount": 5000, "supplier": "ACME"})
    page = sign_in(browser, asgi_server, "sam", problems)
    page.goto(f"{asgi_server.url}/workflows/inbox/{escalation.pk}/")
    wait_until_live(page)
    # The server decides at once, but its answer reaches the page only after the socket has
    # told the page that the escalation is approved (as on a busy machine).
    held: list = []

    def hold(route) -> None:
        held.append((route, route.fetch()))  # the server approves now
        page.evaluate("document.body.dataset.answerHeld = 'yes'")

    page.route("**/approve/", hold)
    page.fill("#approve-form textarea[name=note]", "Within budget.")
    page.click("#approve-button")
    page.wait_for_selector("body[data-answer-held]")
    page.wait_for_selector(f"#escalation-{escalation.pk}[data-state=approved]")
    ((route, answer),) = held
    route.fulfill(response=answer)

    # The person's own answer is swapped in (no fetched panel took its place first).
    page.wait_for_selector("#decision-notice")
    assert "queued for execution" in page.inner_text("#decision-notice")
    assert page.inner_text("#action-state") in ("Queued", "Executing", "Succeeded")
    assert problems == []
