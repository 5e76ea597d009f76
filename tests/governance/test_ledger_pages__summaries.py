"""The auditor's summaries: decisions per person, per policy rule and per agent over a time
window, on the page and as CSV, counting only the entries of the units one audits.

The decisions are real: agents post actions to the gateway, supervisors decide them in the
inbox; the counts are checked against the decision records the gateway kept."""

import csv
import io
import uuid
from datetime import timedelta

import pytest
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from governance import ledger
from governance.models import DecisionRecord
from tests.workflows.test_inbox import PO, make_governed
from workflows import inbox
from workflows.models import Escalation

pytestmark = pytest.mark.django_db


def summary_url(kind: str) -> str:
    return reverse("governance:ledger-summary", args=[kind])


def csv_url(kind: str) -> str:
    return reverse("governance:ledger-summary-csv", args=[kind])


def post_action(client, amount: int) -> int:
    response = client.post(
        "/api/v1/actions/",
        {"action": PO, "payload": {"amount": amount, "supplier": "ACME"}},
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )
    assert response.status_code in (201, 202, 403), response.content
    return response.status_code


@pytest.fixture
def decided(world, as_agent):
    """Agent A: two small orders, two large ones and a huge one; agent B: one small, one
    large. Supervisor A approves one of A's escalations and rejects the other; supervisor B
    approves B's."""
    make_governed()
    agent_a, agent_b = as_agent(world.key_a), as_agent(world.key_b)
    for amount in (500, 700, 5000, 6000, 60000):
        post_action(agent_a, amount)
    for amount in (800, 9000):
        post_action(agent_b, amount)
    waiting_a = list(Escalation.objects.filter(business_unit=world.unit_a).order_by("created_at"))
    inbox.approve(world.supervisor_a, waiting_a[0])
    inbox.reject(world.supervisor_a, waiting_a[1], "Not this supplier.")
    inbox.approve(world.supervisor_b, Escalation.objects.get(business_unit=world.unit_b))
    return world


def table(response) -> dict[str, tuple]:
    """The summary's rows by their first cell."""
    return {row[0]: row[1:] for row in response.context["summary"].rows}


def recorded_effects(agent_slug: str) -> dict[str, int]:
    """What the gateway's decision records say, to compare the ledger's counts with."""
    rows = (
        DecisionRecord.objects.filter(source="gateway", agent_slug=agent_slug)
        .values("effect")
        .annotate(n=Count("id"))
    )
    return {row["effect"]: row["n"] for row in rows}


def test_decisions_per_agent_match_the_gateways_records(client, decided):
    client.force_login(decided.coe)
    response = client.get(summary_url("agents"))
    assert response.status_code == 200
    rows = table(response)
    for slug in ("agent-a", "agent-b"):
        effects = recorded_effects(slug)
        allowed, approval, denied, total = rows[slug]
        assert (allowed, approval, denied) == (
            effects.get("allow", 0),
            effects.get("require_approval", 0),
            effects.get("deny", 0),
        )
        assert total == sum(effects.values())
    assert rows["agent-a"][3] == 5 and rows["agent-b"][3] == 2
    assert response.context["summary"].total == (
        "Total",
        *map(sum, zip(*rows.values(), strict=True)),
    )


def test_decisions_per_person_count_approvals_rejections_and_edits(client, decided):
    client.force_login(decided.coe)
    rows = table(client.get(summary_url("people")))
    assert rows["supervisor-a"] == (1, 0, 1, 0, 2)
    assert rows["supervisor-b"] == (1, 0, 0, 0, 1)


def test_an_edited_approval_is_counted_as_edited(client, decided, as_agent):
    assert post_action(as_agent(decided.key_a), 7000) == 202
    waiting = Escalation.objects.filter(business_unit=decided.unit_a).latest("created_at")
    inbox.edit_and_approve(decided.supervisor_a, waiting, {"amount": 4000, "supplier": "ACME"})
    client.force_login(decided.auditor)
    assert table(client.get(summary_url("people")))["supervisor-a"] == (1, 1, 1, 0, 3)


def test_decisions_per_rule_count_each_matched_rule_by_the_decisions_effect(client, decided):
    client.force_login(decided.auditor)
    response = client.get(summary_url("rules"))
    rows = table(response)
    # Unit A only: small orders 500 and 700; large 5000, 6000 and 60000 (which "huge" denies).
    assert rows["small"][1:] == ("Allow", 2, 0, 0, 0, 2)
    assert rows["large orders"][1:] == ("Needs approval", 0, 2, 1, 0, 3)
    assert rows["huge"][1:] == ("Deny", 0, 0, 1, 0, 1)
    assert response.context["summary"].total[0] == "All matches"


def test_an_auditor_counts_only_the_units_they_audit(client, decided):
    client.force_login(decided.auditor)
    agents = client.get(summary_url("agents"))
    assert set(table(agents)) == {"agent-a"}
    assert b"agent-b" not in agents.content
    people = client.get(summary_url("people"))
    assert set(table(people)) == {"supervisor-a"}
    rules = table(client.get(summary_url("rules")))
    assert rules["small"][2] == 2  # allowed: agent B's small order is not counted
    for kind in ("agents", "people", "rules"):
        assert b"agent-b" not in client.get(csv_url(kind)).content
        assert b"supervisor-b" not in client.get(csv_url(kind)).content


def test_an_auditor_may_not_ask_for_another_units_summary(client, decided):
    client.force_login(decided.auditor)
    response = client.get(summary_url("agents"), {"business_unit": decided.unit_b.slug})
    assert response.status_code == 400
    assert response.context["summary"] is None
    assert b"agent-b" not in response.content
    assert client.get(csv_url("agents"), {"business_unit": decided.unit_b.slug}).status_code == 400


def test_coe_staff_can_narrow_a_summary_to_one_unit(client, decided):
    client.force_login(decided.coe)
    response = client.get(summary_url("agents"), {"business_unit": decided.unit_b.slug})
    assert set(table(response)) == {"agent-b"}


def test_each_summary_downloads_as_csv_with_the_same_rows(client, decided):
    client.force_login(decided.coe)
    for kind in ("people", "rules", "agents"):
        page = client.get(summary_url(kind))
        download = client.get(csv_url(kind))
        assert download.status_code == 200
        assert download["Content-Type"] == "text/csv; charset=utf-8"
        assert f'filename="ledger-{kind}-' in download["Content-Disposition"]
        rows = list(csv.reader(io.StringIO(download.content.decode())))
        summary = page.context["summary"]
        assert rows[0] == list(summary.columns)
        assert rows[1:-1] == [[str(cell) for cell in row] for row in summary.rows]
        assert rows[-1] == [str(cell) for cell in summary.total]


def test_the_window_decides_what_is_counted(client, decided):
    client.force_login(decided.coe)
    later = (timezone.now() + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")
    empty = client.get(summary_url("agents"), {"since": later})
    assert empty.status_code == 200
    assert empty.context["summary"].rows == []
    assert b"No decisions in this window." in empty.content
    earlier = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert set(table(client.get(summary_url("agents"), {"since": earlier}))) == {
        "agent-a",
        "agent-b",
    }


def test_the_default_window_is_the_last_seven_days(client, world):
    client.force_login(world.coe)
    old = ledger.record(
        "action.queued",
        ledger.Actor("agent", "1", "agent-old"),
        business_unit_id=world.unit_a.pk,
        data={"source": "gateway", "effect": "allow", "matched": []},
    )
    response = client.get(summary_url("agents"))
    assert set(table(response)) == {"agent-old"}
    assert response.context["until"] - response.context["since"] == timedelta(days=7)
    until = (old.created_at - timedelta(days=8)).strftime("%Y-%m-%dT%H:%M")
    assert table(client.get(summary_url("agents"), {"until": until})) == {}


@pytest.mark.parametrize(
    "value", ["last week", "07/12/2026", "2026-12-07T24:61", "0001-01-01T00:00:00+23:59"]
)
def test_a_window_that_is_not_iso_8601_is_a_form_error(client, world, value):
    client.force_login(world.auditor)
    response = client.get(summary_url("people"), {"since": value})
    assert response.status_code == 400
    assert b"Enter an ISO 8601 date and time" in response.content
    assert client.get(csv_url("people"), {"since": value}).status_code == 400


def test_a_window_that_ends_before_it_starts_is_a_form_error(client, world):
    client.force_login(world.auditor)
    response = client.get(
        summary_url("rules"), {"since": "2026-12-07T10:00", "until": "2026-12-07T09:00"}
    )
    assert response.status_code == 400
    assert b"must not be before its start" in response.content


def test_an_unknown_summary_is_404(client, world):
    client.force_login(world.coe)
    assert client.get(summary_url("tea")).status_code == 404
    assert client.get(csv_url("tea")).status_code == 404


@pytest.mark.parametrize("persona", ["builder_a", "supervisor_a", "supervisor_b"])
def test_people_who_audit_nothing_get_404(client, world, persona):
    client.force_login(getattr(world, persona))
    assert client.get(summary_url("people")).status_code == 404
    assert client.get(csv_url("people")).status_code == 404


def test_a_name_that_looks_like_a_formula_is_text_in_the_csv(client, world):
    client.force_login(world.coe)
    ledger.record(
        "action.queued",
        ledger.Actor("agent", "1", "=HYPERLINK(1)"),
        business_unit_id=world.unit_a.pk,
        data={"source": "gateway", "effect": "allow", "matched": []},
    )
    rows = list(csv.reader(io.StringIO(client.get(csv_url("agents")).content.decode())))
    assert rows[1][0] == "'=HYPERLINK(1)"
