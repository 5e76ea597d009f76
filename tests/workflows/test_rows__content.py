"""What an inbox row says: the action type's title and summary fields, the plain reason,
the due time relative to now (absolute on hover), and rows at risk or overdue marked."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from governance.redaction import PREFIX
from tests.workflows.test_inbox import IBAN, make_governed, submit
from tests.workflows.test_rows import HOSTILE, action_of, loaded
from workflows import rows
from workflows.models import ActionRequest, ActionType, Escalation


def one_line(html: str) -> str:
    """A row's HTML with each run of white space as one space: the partials wrap their long
    tags over several lines, which changes nothing a browser shows."""
    return re.sub(r"\s+", " ", html)


@pytest.fixture
def escalation(world):
    make_governed()
    ActionType.objects.update(
        title="Create purchase order", summary_fields=["supplier", "amount", "iban"]
    )
    return submit(world.agent_a, {"amount": 7200, "supplier": "ACME", "iban": IBAN})


def test_a_row_names_the_action_by_its_title_and_shows_its_summary_fields(world, escalation):
    row = one_line(rows.escalation_row(loaded(escalation)))
    assert 'title="erp.purchase_order.create">Create purchase order</a>' in row
    assert (
        '<div class="small escalation-summary">supplier <span class="fw-semibold">ACME</span>'
        ' · amount <span class="fw-semibold">7,200</span> · iban'
    ) in row
    assert "Needs approval: rule “large orders” asks for a person&#x27;s approval" in row
    assert "allowed by rule" not in row


def test_a_sensitive_summary_field_is_shown_as_its_hash(world, escalation):
    row = one_line(rows.escalation_row(loaded(escalation)))
    assert IBAN not in row
    assert rows.summary(escalation.action.action_type, {"iban": IBAN})[0][1].startswith(PREFIX)


def test_summary_values_are_escaped_and_shortened(world, escalation):
    ActionRequest.objects.filter(pk=escalation.action_id).update(
        payload={"supplier": HOSTILE, "amount": {"nested": HOSTILE}}
    )
    row = one_line(rows.escalation_row(loaded(escalation)))
    assert "<script>" not in row
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in row
    long = "x" * 200
    ActionRequest.objects.filter(pk=escalation.action_id).update(payload={"supplier": long})
    row = one_line(rows.escalation_row(loaded(escalation)))
    assert "x" * 39 + "…" in row and "x" * 41 not in row


def test_an_action_type_without_summary_fields_shows_no_summary(world, escalation):
    ActionType.objects.update(summary_fields=[], title="")
    row = one_line(rows.escalation_row(loaded(escalation)))
    assert "escalation-summary" not in row
    assert 'title="erp.purchase_order.create">erp.purchase_order.create</a>' in row


def test_the_due_time_is_relative_with_the_absolute_time_on_hover(world, escalation):
    due = escalation.sla_due_at
    row = one_line(
        rows.escalation_row(loaded(escalation), now=due - timedelta(minutes=12, seconds=5))
    )
    assert f'title="{due:%Y-%m-%d %H:%M} UTC" data-relative>in 12 min</time>' in row
    assert f'<time datetime="{due.isoformat()}"' in row
    assert 'class="small text-nowrap escalation-due"' in row


def test_overdue_and_at_risk_rows_are_marked(world, escalation):
    due = escalation.sla_due_at
    overdue = one_line(
        rows.escalation_row(loaded(escalation), now=due + timedelta(minutes=3, seconds=1))
    )
    assert "3 min overdue</time>" in overdue
    assert 'class="small text-nowrap escalation-due sla-overdue"' in overdue
    Escalation.objects.filter(pk=escalation.pk).update(warned_at=due - timedelta(minutes=5))
    at_risk = one_line(rows.escalation_row(loaded(escalation), now=due - timedelta(minutes=2)))
    assert 'class="small text-nowrap escalation-due sla-at-risk"' in at_risk
    assert "due soon" in at_risk


@pytest.mark.parametrize(
    ("minutes", "text"),
    [
        (0.5, "in under 1 min"),
        (12, "in 12 min"),
        (60, "in 1 h"),
        (125, "in 2 h 5 min"),
        (-3, "3 min overdue"),
        (-(3 * 1440 + 4 * 60), "3 d 4 h overdue"),
    ],
)
def test_relative_due_times_read_as_people_say_them(minutes, text):
    now = timezone.now()
    assert rows.relative_due(now + timedelta(minutes=minutes), now) == text


def test_the_priority_says_what_it_means(world, escalation):
    row = one_line(rows.escalation_row(loaded(escalation)))
    assert 'title="Priority 1: high or critical risk">P1</span>' in row


def test_an_activity_row_names_the_action_by_its_title(world, escalation):
    row = one_line(rows.activity_row(action_of(escalation)))
    pk = escalation.action_id
    link = f'href="/workflows/actions/{pk}/" id="activity-{pk}-link"'
    assert f'{link} title="erp.purchase_order.create">Create purchase order</a>' in row
