"""Policies in the Django admin: a draft's rules are edited inline through the services (a CEL
error shows on the form with its line and column and nothing is saved), published versions
are read-only, publish and new draft are actions, and kill switches and decision records
are read-only."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from governance import policies
from governance.models import AuditEntry, Policy, PolicyVersion, Rule
from tests.factories import SYSTEM

State = PolicyVersion.State
VERSIONS = "admin:governance_policyversion_changelist"


@pytest.fixture
def coe(client, world):
    client.force_login(world.coe)
    return client


def texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def new_policy(slug="coe-po", unit=None) -> Policy:
    return policies.create_policy(SYSTEM, slug, slug.title(), business_unit=unit)


def rule_row(index: int, rule: Rule | None = None, **fields) -> dict:
    """One inline form of the rule formset, as the admin page posts it."""
    values = {
        "position": 0,
        "name": "orders",
        "roles": "",
        "business_units": "",
        "agents": "",
        "autonomy_levels": "",
        "action_pattern": "erp.purchase_order.*",
        "condition": "",
        "effect": "allow",
        "route": "",
        "sla_seconds": "",
        "reason": "",
        "limit_metric": "",
        "limit_scope": "agent",
        "limit_window": "hour",
        "limit_field": "",
        "soft_limit": "",
        "hard_limit": "",
    }
    if rule is not None:
        values.update(
            position=rule.position,
            name=rule.name,
            roles=", ".join(rule.roles),
            action_pattern=rule.action_pattern,
            condition=rule.condition,
            effect=rule.effect,
            route=rule.route,
            sla_seconds=rule.sla_seconds or "",
        )
    values.update(fields)
    row = {f"rules-{index}-{name}": value for name, value in values.items()}
    row[f"rules-{index}-id"] = rule.pk if rule is not None else ""
    row[f"rules-{index}-version"] = ""
    return row


def formset(version: PolicyVersion, *rows: dict) -> dict:
    data = {
        "rules-TOTAL_FORMS": str(len(rows)),
        "rules-INITIAL_FORMS": str(version.rules.count()),
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "1000",
    }
    for row in rows:
        data.update(row)
    return data


def change_url(version: PolicyVersion) -> str:
    return reverse("admin:governance_policyversion_change", args=[version.pk])


def test_a_rule_added_in_the_admin_goes_through_the_service(coe, world):
    draft = new_policy().versions.get()
    response = coe.post(
        change_url(draft),
        formset(draft, rule_row(0, condition="payload.amount < 5000", roles="buyer, clerk")),
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    rule = draft.rules.get()
    assert (rule.roles, rule.condition) == (["buyer", "clerk"], "payload.amount < 5000")
    entry = AuditEntry.objects.order_by("-id").first()
    assert (entry.verb, entry.actor_name) == ("policy.rule_added", "coe")


def test_a_cel_error_shows_in_the_admin_form_with_line_and_column_and_saves_nothing(coe, world):
    draft = new_policy().versions.get()
    entries = AuditEntry.objects.count()
    response = coe.post(
        change_url(draft),
        formset(draft, rule_row(0, condition="payload.amount > 10 &&\n  agent.colour == 1")),
    )
    assert response.status_code == 200
    [rule_formset] = response.context["inline_admin_formsets"]
    errors = rule_formset.formset.errors[0]
    assert errors["condition"] == [
        "line 2, column 9: agent has no field 'colour' "
        "(fields: slug, role, business_unit, level, capabilities)"
    ]
    assert "line 2, column 9" in response.content.decode()
    assert not draft.rules.exists()
    assert AuditEntry.objects.count() == entries


def test_a_business_unit_allow_rule_is_refused_in_the_admin_form(coe, world):
    draft = new_policy("a-po", world.unit_a).versions.get()
    response = coe.post(change_url(draft), formset(draft, rule_row(0, effect="allow")))
    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.errors[0]
    assert errors["effect"] == [policies.BU_ALLOW_MESSAGE]
    assert not draft.rules.exists()


def test_changing_and_removing_draft_rules_in_the_admin(coe, world):
    draft = new_policy().versions.get()
    keep = policies.add_rule(SYSTEM, draft, name="keep", action_pattern="erp.*", effect="allow")
    drop = policies.add_rule(SYSTEM, draft, name="drop", action_pattern="crm.*", effect="allow")
    response = coe.post(
        change_url(draft),
        formset(
            draft,
            rule_row(0, keep, condition="payload.amount < 10"),
            rule_row(1, drop, DELETE="on"),
        ),
    )
    assert response.status_code == 302
    keep.refresh_from_db()
    assert keep.condition == "payload.amount < 10"
    assert not Rule.objects.filter(pk=drop.pk).exists()
    verbs = list(AuditEntry.objects.order_by("-id").values_list("verb", flat=True)[:2])
    assert sorted(verbs) == ["policy.rule_deleted", "policy.rule_updated"]


def test_a_published_versions_rules_are_read_only_in_the_admin(coe, world):
    draft = new_policy().versions.get()
    rule = policies.add_rule(SYSTEM, draft, name="po", action_pattern="erp.*", effect="allow")
    published = policies.publish(SYSTEM, draft)
    page = coe.get(change_url(published))
    assert page.status_code == 200
    assert b'name="rules-0-condition"' not in page.content
    entries = AuditEntry.objects.count()
    coe.post(
        change_url(published),
        formset(
            published,
            rule_row(0, rule, condition="payload.amount < 1"),
            rule_row(1, name="sneaky", effect="allow"),
        ),
    )
    rule.refresh_from_db()
    assert rule.condition == ""
    assert published.rules.count() == 1
    assert AuditEntry.objects.count() == entries


def test_publishing_and_starting_a_draft_are_admin_actions(coe, world):
    policy = new_policy()
    draft = policy.versions.get()
    policies.add_rule(SYSTEM, draft, name="po", action_pattern="erp.*", effect="allow")
    response = coe.post(reverse(VERSIONS), {"action": "publish", "_selected_action": [draft.pk]})
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.state == State.PUBLISHED
    assert "Coe-Po v1 published." in texts(response)
    response = coe.post(reverse(VERSIONS), {"action": "new_draft", "_selected_action": [draft.pk]})
    assert "Coe-Po: draft v2 created." in texts(response)
    v2 = policy.versions.get(number=2)
    assert (v2.state, v2.rules.count()) == (State.DRAFT, 1)


def test_publishing_an_invalid_draft_in_the_admin_says_why(coe, world):
    draft = new_policy().versions.get()
    Rule.objects.create(
        version=draft, name="stale", action_pattern="erp.*", effect="deny", route="q"
    )
    response = coe.post(reverse(VERSIONS), {"action": "publish", "_selected_action": [draft.pk]})
    assert any("rule 'stale': route: Only a require_approval rule" in t for t in texts(response))
    draft.refresh_from_db()
    assert draft.state == State.DRAFT


def test_a_policy_added_in_the_admin_goes_through_the_service(coe, world):
    response = coe.post(
        reverse("admin:governance_policy_add"),
        {
            "slug": "a-limits",
            "name": "A limits",
            "description": "",
            "business_unit": world.unit_a.pk,
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    policy = Policy.objects.get(slug="a-limits")
    assert policy.owner == "unit-a"
    assert policy.versions.get().state == State.DRAFT
    assert AuditEntry.objects.order_by("-id").first().verb == "policy.created"


def test_versions_cannot_be_added_by_hand(coe, world):
    assert coe.get(reverse("admin:governance_policyversion_add")).status_code == 403


@pytest.mark.parametrize("model", ["killswitch", "decisionrecord"])
def test_kill_switches_and_decision_records_are_read_only(coe, world, model):
    assert coe.get(reverse(f"admin:governance_{model}_changelist")).status_code == 200
    assert coe.get(reverse(f"admin:governance_{model}_add")).status_code == 403
