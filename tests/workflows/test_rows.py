"""The rows of the inbox and the activity feed (workflows.rows): the pages show the very rows
the pushes carry, each state shows what a supervisor acts on, and every value is escaped."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import set_script_prefix

from agents.models import Agent
from tests.workflows.test_inbox import make_governed, submit
from workflows import inbox, live, rows
from workflows.models import ActionRequest, Escalation, Queue


def one_line(html: str) -> str:
    """A row's HTML with each run of white space as one space: the partials wrap their long
    tags over several lines, which changes nothing a browser shows."""
    return re.sub(r"\s+", " ", html)


HOSTILE = '<script>alert("x")</script>'


@pytest.fixture
def escalation(world):
    make_governed()
    return submit(world.agent_a, {"amount": 5000, "supplier": "ACME"})


def loaded(escalation: Escalation) -> Escalation:
    return live.escalation_queryset().get(pk=escalation.pk)


def action_of(escalation: Escalation) -> ActionRequest:
    return live.activity_queryset().get(pk=escalation.action_id)


def page(user, path: str) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(path)
    assert response.status_code == 200
    return response.content.decode()


def test_the_pages_show_the_very_rows_the_pushes_carry(world, escalation):
    assert rows.escalation_row(loaded(escalation)) in page(world.supervisor_a, "/workflows/inbox/")
    detail = page(world.supervisor_a, f"/workflows/inbox/{escalation.pk}/")
    assert rows.escalation_row(loaded(escalation)) in detail
    row = rows.activity_row(action_of(escalation))
    assert row in page(world.supervisor_a, "/workflows/activity/")
    assert row in page(world.supervisor_a, "/")
    assert live.render_escalation(loaded(escalation)) == rows.escalation_row(loaded(escalation))
    assert live.render_activity(action_of(escalation)) == row


def test_an_open_escalation_offers_claim_and_shows_its_sla(world, escalation):
    row = one_line(rows.escalation_row(loaded(escalation)))
    key = rows.urgency_key(escalation)
    assert (
        f'<tr id="escalation-{escalation.pk}" class="escalation-row" data-state="open" '
        f'data-order="{key}">'
    ) in row
    assert f'hx-post="/workflows/inbox/{escalation.pk}/claim/"' in row
    assert f'id="claim-{escalation.pk}">Claim</button>' in row
    assert "Agent A" in row and "(agent-a)" in row and "owner builder-a" in row
    assert "overdue" not in row and "due soon" not in row
    due = escalation.sla_due_at
    assert f"{due:%Y-%m-%d %H:%M} UTC" in row
    assert "overdue" in one_line(rows.escalation_row(loaded(escalation), now=due))
    Escalation.objects.filter(pk=escalation.pk).update(warned_at=due - timedelta(minutes=1))
    assert "due soon" in one_line(rows.escalation_row(loaded(escalation)))


def test_a_claimed_escalation_offers_unclaim_and_names_its_claimant(world, escalation):
    inbox.claim(world.supervisor_a, escalation)
    row = one_line(rows.escalation_row(loaded(escalation)))
    assert 'data-state="claimed"' in row
    assert f'hx-post="/workflows/inbox/{escalation.pk}/unclaim/"' in row
    assert f'id="unclaim-{escalation.pk}">Unclaim</button>' in row
    assert '<span class="badge text-bg-info">Claimed</span>' in row
    assert "by supervisor-a" in row


def test_a_decided_escalation_is_greyed_offers_review_only_and_is_never_overdue(world, escalation):
    inbox.reject(world.supervisor_a, escalation, "Not this supplier.")
    decided = loaded(escalation)
    row = one_line(rows.escalation_row(decided, now=decided.sla_due_at + timedelta(hours=1)))
    assert 'class="escalation-row table-secondary" data-state="rejected"' in row
    assert '<span class="badge text-bg-danger">Rejected</span>' in row
    assert "by supervisor-a" in row
    assert "<button" not in row and ">Review</a>" in row
    assert "overdue" not in row


def test_a_refusal_is_shown_in_the_row_that_asked(world, escalation):
    row = one_line(rows.escalation_row(loaded(escalation), row_error="Already <decided>."))
    assert f'id="escalation-{escalation.pk}-error">Already &lt;decided&gt;.</div>' in row


def test_every_value_from_the_database_is_escaped(world, escalation):
    Agent.objects.filter(pk=world.agent_a.pk).update(name=HOSTILE)
    Queue.objects.filter(pk=escalation.queue_id).update(name=HOSTILE)
    Escalation.objects.filter(pk=escalation.pk).update(reason=HOSTILE, kind="<i>kind</i>")
    ActionRequest.objects.filter(pk=escalation.action_id).update(error=HOSTILE, shadow=True)
    for row in (
        one_line(rows.escalation_row(loaded(escalation))),
        one_line(rows.activity_row(action_of(escalation))),
    ):
        assert "<script>" not in row
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in row
    assert "&lt;i&gt;kind&lt;/i&gt;</span>" in one_line(rows.escalation_row(loaded(escalation)))
    assert '<span class="badge text-bg-info">shadow</span>' in one_line(
        rows.activity_row(action_of(escalation))
    )


def test_an_activity_row_shows_state_decision_and_a_shortened_error(world, escalation):
    ActionRequest.objects.filter(pk=escalation.action_id).update(state="failed", error="e" * 300)
    row = one_line(rows.activity_row(action_of(escalation)))
    assert f'<tr id="activity-{escalation.action_id}" data-state="failed"' in row
    assert '<span class="badge text-bg-danger">Failed</span>' in row
    assert "Require approval" in row  # the decision's effect
    assert "e" * 139 + "…" in row and "e" * 140 not in row


def test_an_activity_row_links_to_its_action_and_carries_what_filters_match(world, escalation):
    row = one_line(rows.activity_row(action_of(escalation)))
    action_url = f"/workflows/actions/{escalation.action_id}/"
    assert f'href="{action_url}" id="activity-{escalation.action_id}-link"' in row
    assert 'data-unit="unit-a" data-agent="agent-a"' in row
    assert f'data-action="{escalation.action.action_type.name}"' in row


def test_a_denied_actions_row_says_why_it_was_denied(world, escalation):
    action = action_of(escalation)
    action.state = "denied"
    action.decision.reasons = ["Amount over the 1,000 limit for buyers", "Supplier on hold"]
    row = one_line(rows.activity_row(action))
    assert "Amount over the 1,000 limit for buyers; Supplier on hold" in row


def test_the_links_follow_the_script_prefix_the_site_is_served_under(world, escalation):
    set_script_prefix("/autonomy/")
    try:
        prefixed = one_line(rows.escalation_row(loaded(escalation)))
    finally:
        set_script_prefix("/")
    assert f'href="/autonomy/workflows/inbox/{escalation.pk}/"' in prefixed
    assert f'hx-post="/autonomy/workflows/inbox/{escalation.pk}/claim/"' in prefixed
    assert f'href="/workflows/inbox/{escalation.pk}/"' in one_line(
        rows.escalation_row(loaded(escalation))
    )


def test_the_rows_urgency_keys_sort_as_the_inbox_orders_its_rows(world, escalation):
    made = [escalation]
    for amount in (5001, 5002, 5003):
        made.append(submit(world.agent_a, {"amount": amount, "supplier": "ACME"}))
    now = escalation.sla_due_at
    changes = [(3, 0), (1, 9), (1, 0), (2, -5)]  # priority, and the due time moved (minutes)
    for (priority, minutes), item in zip(changes, made, strict=True):
        Escalation.objects.filter(pk=item.pk).update(
            priority=priority, sla_due_at=now + timedelta(minutes=minutes, microseconds=7)
        )
    inbox_order = list(
        Escalation.objects.filter(pk__in=[e.pk for e in made]).order_by("priority", "sla_due_at")
    )
    assert sorted(reversed(inbox_order), key=rows.urgency_key) == inbox_order
    assert [e.priority for e in inbox_order] == [1, 1, 2, 3]
