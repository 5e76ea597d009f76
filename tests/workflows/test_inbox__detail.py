"""The escalation page for a supervisor working through a list: the title and summary, the
priority legend, previous/next in the list it was opened from (the inbox's order, the
person's scope), next after a decision, the two decisions after edit-and-approve, and how
people decided the agent's earlier requests."""

import re
from datetime import timedelta
from urllib.parse import quote

import pytest

from tests.workflows.test_inbox import IBAN, make_governed, submit
from tests.workflows.test_inbox__pages import HTMX, client_for, detail
from tests.workflows.test_rows import HOSTILE
from workflows import inbox
from workflows.models import ActionRequest, ActionType, Escalation


@pytest.fixture
def governed(world):
    action_type = make_governed()
    ActionType.objects.update(title="Create purchase order", summary_fields=["supplier", "amount"])
    return action_type


def _made(world, *specs) -> list[Escalation]:
    """Escalations of agent A with (priority, due in minutes from the first one's due)."""
    made = [
        submit(world.agent_a, {"amount": 2000 + i, "supplier": "ACME"}) for i in range(len(specs))
    ]
    base = made[0].sla_due_at
    for escalation, (priority, minutes) in zip(made, specs, strict=True):
        Escalation.objects.filter(pk=escalation.pk).update(
            priority=priority, sla_due_at=base + timedelta(minutes=minutes)
        )
    return made


def _link(page: str, link_id: str) -> str | None:
    found = re.search(rf'href="([^"]*)" id="{link_id}"', page)
    return found.group(1).replace("&amp;", "&") if found else None


def test_the_page_names_the_action_by_its_title_with_its_summary_and_legend(world, governed):
    escalation = submit(world.agent_a, {"amount": 7200, "supplier": HOSTILE, "iban": IBAN})
    page = client_for(world.supervisor_a).get(detail(escalation)).content.decode()
    assert '<h1 class="h3 mb-0" id="escalation-title">Create purchase order</h1>' in page
    assert "<title>Escalation · Create purchase order" in page
    summary = re.search(r'id="escalation-summary-fields">(.*?)</dd>', page).group(1)
    assert "&lt;script&gt;" in summary and "<script>" not in summary
    assert "amount <strong>7,200</strong>" in summary
    assert 'id="priority-legend"' in page and "P1</span> high or critical risk" in page
    assert 'id="shortcuts"' in page and "<kbd>j</kbd>" in page and "<kbd>a</kbd>" in page
    assert "Needs approval: rule “large orders” asks for a person&#x27;s approval" in page


def test_previous_and_next_follow_the_inbox_order_within_the_persons_open_escalations(
    world, governed
):
    first, later, urgent, last = _made(world, (2, 0), (2, 30), (1, 60), (3, -10))
    claimed = _made(world, (2, 10))[0]
    inbox.claim(world.coe, claimed)
    outside = submit(world.agent_b, {"amount": 2000})
    Escalation.objects.filter(pk=outside.pk).update(priority=2, sla_due_at=first.sla_due_at)
    client = client_for(world.supervisor_a)
    # The inbox's order: urgent (P1), first (P2, +0), later (P2, +30), last (P3).
    page = client.get(detail(first)).content.decode()
    assert _link(page, "previous-escalation") == detail(urgent)
    assert _link(page, "next-escalation") == detail(later)
    page = client.get(detail(urgent)).content.decode()
    assert _link(page, "previous-escalation") is None
    assert _link(page, "next-escalation") == detail(first)
    page = client.get(detail(last)).content.decode()
    assert _link(page, "previous-escalation") == detail(later)
    assert _link(page, "next-escalation") is None
    for page in (client.get(detail(e)).content.decode() for e in (first, later, urgent, last)):
        assert str(claimed.pk) not in page and str(outside.pk) not in page


def test_previous_and_next_honour_the_lists_filters_and_keep_them(world, governed):
    first, second, third = _made(world, (2, 0), (2, 5), (2, 10))
    Escalation.objects.filter(pk=third.pk).update(assigned_to=world.supervisor_a)
    inbox.claim(world.supervisor_a, second)
    client = client_for(world.supervisor_a)
    mine = "?from=" + quote("assigned=me")
    page = client.get(detail(first) + mine).content.decode()
    assert _link(page, "next-escalation") == detail(third) + "?from=assigned%3Dme"
    assert 'href="/workflows/inbox/?assigned=me" id="back-to-list"' in page
    claimed = "?from=" + quote("state=claimed")
    page = client.get(detail(first) + claimed).content.decode()
    assert _link(page, "next-escalation") == detail(second) + "?from=state%3Dclaimed"
    queue = first.queue
    other_queue = "?from=" + quote("queue=no-such-queue")
    page = client.get(detail(first) + other_queue).content.decode()
    assert _link(page, "next-escalation") is None
    for value in (queue.slug, str(queue.pk)):
        page = client.get(detail(first) + "?from=" + quote(f"queue={value}")).content.decode()
        assert _link(page, "next-escalation").startswith(detail(third))


@pytest.mark.parametrize(
    ("junk", "listed"),
    [
        ("queue=%00", True),  # not a slug: ignored
        ("state=nope&assigned=you", True),
        ("%ff%fe", True),
        ("a" * 3000, True),
        ("queue=" + "9" * 40, False),  # a slug of no queue, never an id out of range
    ],
)
def test_a_list_query_that_means_nothing_is_ignored_without_an_error(world, governed, junk, listed):
    first, _ = _made(world, (2, 0), (2, 5))
    response = client_for(world.supervisor_a).get(detail(first) + "?from=" + quote(junk))
    assert response.status_code == 200
    assert (_link(response.content.decode(), "next-escalation") is not None) is listed


def test_after_a_decision_next_goes_on_through_the_same_list(world, governed):
    first, second = _made(world, (2, 0), (2, 5))
    client = client_for(world.supervisor_a)
    keep = "?from=" + quote("assigned=&state=open")
    response = client.post(detail(first) + "approve/" + keep, {"note": ""})
    assert response.status_code == 302
    assert response["Location"] == detail(first) + "?from=assigned%3D%26state%3Dopen"
    panel = client.post(detail(second) + "reject/" + keep, {"reason": "No."}, **HTMX)
    assert 'id="decided-last"' in panel.content.decode()
    third = _made(world, (2, 20))[0]
    page = client.get(detail(first) + keep).content.decode()
    assert _link(page, "decided-next") == detail(third) + "?from=assigned%3D%26state%3Dopen"


def test_a_panel_fetched_again_keeps_the_list_of_the_page_that_asked(world, governed):
    first, second = _made(world, (2, 0), (2, 5))
    Escalation.objects.filter(pk=second.pk).update(assigned_to=world.supervisor_a)
    page_address = f"http://testserver{detail(first)}?from=assigned%3Dme"
    panel = client_for(world.supervisor_a).get(
        detail(first), HTTP_HX_CURRENT_URL=page_address, **HTMX
    )
    html = panel.content.decode()
    assert f'hx-post="/workflows/inbox/{first.pk}/approve/?from=assigned%3Dme"' in html


def test_the_decision_forms_keep_the_list_they_came_from(world, governed):
    (first,) = _made(world, (2, 0))
    page = client_for(world.supervisor_a).get(detail(first) + "?from=assigned%3Dme")
    html = page.content.decode()
    for verb in ("claim", "approve", "edit", "reject", "reassign", "suspend-agent"):
        assert f'hx-post="/workflows/inbox/{first.pk}/{verb}/?from=assigned%3Dme"' in html


def test_after_edit_and_approve_both_decisions_are_shown_side_by_side(world, governed):
    escalation = submit(world.agent_a, {"amount": 5000, "supplier": "ACME"})
    client = client_for(world.supervisor_a)
    edited = '{"amount": 900, "supplier": "ACME"}'
    panel = client.post(detail(escalation) + "edit/", {"payload": edited, "note": ""}, **HTMX)
    html = panel.content.decode()
    compared = re.search(r'id="decisions-compared">(.*?)</section>', html, re.S).group(1)
    submitted = re.search(r'id="decision-submitted">(.*?)</tr>', compared, re.S).group(1)
    again = re.search(r'id="decision-edited">(.*?)</tr>', compared, re.S).group(1)
    assert "Require approval" in submitted and "rule “large orders” asks" in submitted
    assert "Allow" in again and "Allowed: rule “small” allows it" in again
    action = ActionRequest.objects.get(pk=escalation.action_id)
    assert f"/governance/decisions/{action.decision_id}/" in submitted
    assert "/governance/decisions/" in again and str(action.decision_id) not in again
    # An approval without an edit has one decision only.
    other = submit(world.agent_a, {"amount": 5000, "supplier": "ACME"})
    client.post(detail(other) + "approve/", {"note": ""})
    assert 'id="decisions-compared"' not in client.get(detail(other)).content.decode()


def test_the_agents_record_shows_how_people_decided_its_requests(world, governed):
    client = client_for(world.supervisor_a)
    pending = submit(world.agent_a, {"amount": 5000})
    page = client.get(detail(pending)).content.decode()
    assert 'id="human-rates-none"' in page
    made = [submit(world.agent_a, {"amount": 5000 + i}) for i in range(4)]
    inbox.approve(world.supervisor_a, made[0])
    inbox.edit_and_approve(world.supervisor_a, made[1], {"amount": 900})
    inbox.reject(world.supervisor_a, made[2], "No.")
    inbox.reject(world.supervisor_a, made[3], "No.")
    inbox.claim(world.supervisor_a, pending)  # not decided: not counted
    page = client.get(detail(pending)).content.decode()
    rates = re.search(r'id="human-rates">(.*?)</ul>', page, re.S).group(1)
    assert "approved 50% (2)" in rates
    assert "edited, then approved 25% (1)" in rates
    assert "rejected 50% (2)" in rates
    assert "its last 4 approval requests" in page
