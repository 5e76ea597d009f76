"""Policies in the Django admin: a version's page lists its rules, each edited on its own page
through the services (a CEL error shows with its line and column and nothing is saved; the
condition is checked as you type), rules move up and down, routes come from the queues and
SLAs are in hours; published versions are read-only; publishing shows the diff and asks for
confirmation; kill switches and decision records are read-only."""

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


def rule_form(**fields) -> dict:
    """A rule's own admin form, as its page posts it."""
    values = {
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
    values.update(fields)
    return values


def change_url(version: PolicyVersion) -> str:
    return reverse("admin:governance_policyversion_change", args=[version.pk])


def add_url(version: PolicyVersion) -> str:
    return f"{reverse('admin:governance_rule_add')}?version={version.pk}"


def rule_url(rule: Rule) -> str:
    return reverse("admin:governance_rule_change", args=[rule.pk])


def make_queue(slug="procurement-approvals", name="Procurement approvals"):
    from workflows.models import Queue

    return Queue.objects.create(slug=slug, name=name)


def add(version, name, **fields) -> Rule:
    fields = {"action_pattern": "erp.*", "effect": "allow", **fields}
    return policies.add_rule(SYSTEM, version, name=name, **fields)


# A version's page and a rule's own page


def test_a_versions_page_lists_its_rules_compactly_with_a_page_for_each(coe, world):
    draft = new_policy().versions.get()
    add(draft, "small orders", roles=["buyer"], condition="payload.amount < 5000")
    rule = add(draft, "big orders", effect="deny", condition="payload.amount >= 5000")
    page = coe.get(change_url(draft))
    assert page.status_code == 200
    html = page.content.decode()
    for text in ("small orders", "roles: buyer", "erp.*", "Deny", "payload.amount &gt;= 5000"):
        assert text in html
    assert rule_url(rule) in html
    assert add_url(draft) in html
    assert reverse("governance:policy-impact", args=[draft.pk]) in html
    assert reverse("admin:governance_policyversion_publish", args=[draft.pk]) in html
    assert 'name="rules-0-condition"' not in html  # no inline forms any more


def test_a_rule_added_in_the_admin_goes_through_the_service_and_lands_at_the_end(coe, world):
    draft = new_policy().versions.get()
    add(draft, "first")
    queue = make_queue()
    response = coe.post(
        add_url(draft),
        rule_form(
            effect="require_approval",
            condition="payload.amount < 5000",
            roles="buyer, clerk",
            route=queue.slug,
            sla_seconds="4h",
        ),
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    assert response.url == change_url(draft)
    rule = draft.rules.get(name="orders")
    assert (rule.position, rule.roles, rule.route, rule.sla_seconds) == (
        1,
        ["buyer", "clerk"],
        "procurement-approvals",
        4 * 3600,
    )
    entry = AuditEntry.objects.order_by("-id").first()
    assert (entry.verb, entry.actor_name) == ("policy.rule_added", "coe")


def test_the_route_is_chosen_from_the_queues_and_the_sla_is_shown_in_hours(coe, world):
    draft = new_policy().versions.get()
    make_queue()
    rule = add(
        draft, "approve", effect="require_approval", route="procurement-approvals", sla_seconds=5400
    )
    html = coe.get(rule_url(rule)).content.decode()
    assert '<option value="procurement-approvals" selected>' in html
    assert "Procurement approvals (procurement-approvals)" in html
    assert 'value="1h 30m"' in html


def test_a_route_that_is_no_queue_is_refused_and_a_bad_duration_is_explained(coe, world):
    draft = new_policy().versions.get()
    response = coe.post(
        add_url(draft),
        rule_form(effect="require_approval", route="nowhere", sla_seconds="soon"),
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "Select a valid choice" in errors["route"][0]
    assert errors["sla_seconds"] == [
        "Give a duration such as 4h, 90m, 1d 2h or 45s (a bare number is minutes)."
    ]
    assert not draft.rules.exists()


def test_a_cel_error_shows_in_the_admin_form_with_line_and_column_and_saves_nothing(coe, world):
    draft = new_policy().versions.get()
    entries = AuditEntry.objects.count()
    response = coe.post(
        add_url(draft), rule_form(condition="payload.amount > 10 &&\n  agent.colour == 1")
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["condition"] == [
        "line 2, column 9: agent has no field 'colour' "
        "(fields: slug, role, business_unit, level, capabilities)"
    ]
    assert "line 2, column 9" in response.content.decode()
    assert not draft.rules.exists()
    assert AuditEntry.objects.count() == entries


def test_a_business_unit_allow_rule_is_refused_in_the_admin_form(coe, world):
    draft = new_policy("a-po", world.unit_a).versions.get()
    response = coe.post(add_url(draft), rule_form(effect="allow"))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["effect"] == [policies.BU_ALLOW_MESSAGE]
    assert not draft.rules.exists()


def test_adding_a_rule_needs_a_draft_to_add_it_to(coe, world):
    published = new_policy().versions.get()
    add(published, "po")
    policies.publish(SYSTEM, published)
    assert coe.get(reverse("admin:governance_rule_add")).status_code == 404
    assert coe.get(add_url(published)).status_code == 404


def test_changing_and_removing_draft_rules_in_the_admin(coe, world):
    draft = new_policy().versions.get()
    keep = add(draft, "keep")
    drop = add(draft, "drop", action_pattern="crm.*")
    response = coe.post(
        rule_url(keep),
        rule_form(name="keep", action_pattern="erp.*", condition="payload.amount < 10"),
    )
    assert response.status_code == 302
    keep.refresh_from_db()
    assert keep.condition == "payload.amount < 10"
    response = coe.post(reverse("admin:governance_rule_delete", args=[drop.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert response.url == change_url(draft)
    assert not Rule.objects.filter(pk=drop.pk).exists()
    verbs = list(AuditEntry.objects.order_by("-id").values_list("verb", flat=True)[:2])
    assert verbs == ["policy.rule_deleted", "policy.rule_updated"]


def test_rules_move_up_and_down_through_the_service(coe, world):
    draft = new_policy().versions.get()
    a, b, c = add(draft, "a"), add(draft, "b"), add(draft, "c")
    move = "admin:governance_rule_move"
    response = coe.post(reverse(move, args=[c.pk, "up"]))
    assert response.status_code == 302
    assert list(draft.rules.order_by("position").values_list("name", flat=True)) == ["a", "c", "b"]
    coe.post(reverse(move, args=[a.pk, "down"]))
    assert list(draft.rules.order_by("position").values_list("name", flat=True)) == ["c", "a", "b"]
    assert list(draft.rules.order_by("position").values_list("position", flat=True)) == [0, 1, 2]
    entry = AuditEntry.objects.order_by("-id").first()
    assert (entry.verb, entry.data["name"], entry.data["from"], entry.data["to"]) == (
        "policy.rule_moved",
        "a",
        0,
        1,
    )
    assert coe.get(reverse(move, args=[a.pk, "up"])).status_code == 405
    assert b.pk  # untouched by name, moved by the others


def test_a_published_versions_rules_are_read_only_in_the_admin(coe, world):
    draft = new_policy().versions.get()
    rule = add(draft, "po", effect="require_approval", route="q", sla_seconds=7200)
    published = policies.publish(SYSTEM, draft)
    page = coe.get(change_url(published))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'class="rule-order"' not in html and add_url(published) not in html
    assert "start a new draft to edit its rules" in html
    rule_page = coe.get(rule_url(rule))
    assert rule_page.status_code == 200
    assert b'name="condition"' not in rule_page.content
    assert '<div class="readonly">2h</div>' in rule_page.content.decode()
    entries = AuditEntry.objects.count()
    response = coe.post(
        rule_url(rule),
        rule_form(name="po", effect="require_approval", route="q", condition="payload.amount < 1"),
    )
    assert response.status_code == 403
    move = reverse("admin:governance_rule_move", args=[rule.pk, "down"])
    assert coe.post(move).status_code == 302
    rule.refresh_from_db()
    assert (rule.condition, rule.position) == ("", 0)
    assert AuditEntry.objects.count() == entries


# The condition as you type


def test_the_condition_check_answers_errors_with_line_and_column(coe, world):
    url = reverse("admin:governance_rule_check_condition")
    response = coe.post(url, {"condition": 'payload.currency != "EUR" &&\n  2000 > "x"'})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-line="2" data-column="3"' in html
    assert "line 2, column 3: 2000 &gt; &quot;x&quot; always fails" in html
    ok = coe.post(url, {"condition": "payload.amount < 10"}).content.decode()
    assert "The condition compiles." in ok


def test_the_variables_panel_offers_payload_fields_of_matching_action_types(coe, world):
    from workflows.models import ActionType

    ActionType.objects.create(
        name="erp.purchase_order.create",
        payload_schema={
            "type": "object",
            "properties": {
                "amount": {"type": "number"},
                "supplier": {"type": "object", "properties": {"country": {"type": "string"}}},
            },
        },
    )
    ActionType.objects.create(name="crm.note.add", payload_schema={"properties": {"text": {}}})
    url = reverse("admin:governance_rule_variables")
    html = coe.get(url, {"action_pattern": "erp.*"}).content.decode()
    for path in ("payload.amount", "payload.supplier.country", "agent.level", "action.risk_tier"):
        assert f'data-insert="{path}"' in html
    assert "context.counts.agent_hour" in html
    assert "payload.text" not in html


@pytest.mark.parametrize("who", ["builder_a", "supervisor_a"])
def test_the_editing_helpers_are_for_coe_staff_only(client, world, who):
    client.force_login(getattr(world, who))
    check = client.post(reverse("admin:governance_rule_check_condition"), {"condition": "1"})
    assert check.status_code == 302  # the admin sends non-staff to its login page
    assert client.get(reverse("admin:governance_rule_variables")).status_code == 302


def test_a_rule_page_loads_its_script_and_checks_as_you_type(coe, world):
    rule = add(new_policy().versions.get(), "po")
    html = coe.get(rule_url(rule)).content.decode()
    assert 'hx-trigger="keyup changed delay:500ms"' in html
    assert f'hx-post="{reverse("admin:governance_rule_check_condition")}"' in html
    assert "js/rule_editor.js" in html
    assert "style=" not in html.split("<body", 1)[1].replace('"style=', "")


# Publishing: the diff and a confirmation


def test_publishing_shows_the_diff_and_asks_for_confirmation(coe, world):
    policy = new_policy()
    v1 = policy.versions.get()
    add(v1, "kept")
    add(v1, "changed", effect="require_approval", route="q", sla_seconds=3600)
    add(v1, "dropped")
    policies.publish(SYSTEM, v1)
    v2 = policies.create_draft(SYSTEM, policy)
    changed = v2.rules.get(name="changed")
    policies.update_rule(SYSTEM, changed, sla_seconds=4 * 3600, condition="payload.amount > 1")
    policies.delete_rule(SYSTEM, v2.rules.get(name="dropped"))
    add(v2, "added", effect="deny")
    url = reverse("admin:governance_policyversion_publish", args=[v2.pk])
    page = coe.get(url)
    assert page.status_code == 200
    diff = page.context["diff"]
    assert [c.name for c in diff.added] == ["added"]
    assert [c.name for c in diff.removed] == ["dropped"]
    [change] = diff.changed
    assert [(f.name, f.before, f.after) for f in change.fields] == [
        ("condition", "-", "payload.amount > 1"),
        ("sla_seconds", "1h", "4h"),
    ]
    html = page.content.decode()
    assert "Yes, publish" in html and "<td>SLA</td>" in html
    v2.refresh_from_db()
    assert v2.state == State.DRAFT  # looking publishes nothing
    response = coe.post(url, {"post": "yes", "step": "publish"})
    assert response.status_code == 302
    v2.refresh_from_db()
    assert v2.state == State.PUBLISHED
    assert "Coe-Po v2 published." in texts(response)


def test_publishing_an_invalid_draft_in_the_admin_says_why(coe, world):
    draft = new_policy().versions.get()
    Rule.objects.create(
        version=draft, name="stale", action_pattern="erp.*", effect="deny", route="q"
    )
    url = reverse("admin:governance_policyversion_publish", args=[draft.pk])
    response = coe.post(url, {"post": "yes", "step": "publish"})
    assert any("rule 'stale': route: Only a require_approval rule" in t for t in texts(response))
    draft.refresh_from_db()
    assert draft.state == State.DRAFT


def test_publishing_twice_says_the_version_moved_on(coe, world):
    draft = new_policy().versions.get()
    add(draft, "po")
    url = reverse("admin:governance_policyversion_publish", args=[draft.pk])
    coe.post(url, {"post": "yes", "step": "publish"})
    response = coe.post(url, {"post": "yes", "step": "publish"})
    assert response.status_code == 302
    assert any("is published and cannot change" in t for t in texts(response))


def test_starting_a_draft_is_an_admin_action(coe, world):
    policy = new_policy()
    draft = policy.versions.get()
    add(draft, "po")
    policies.publish(SYSTEM, draft)
    response = coe.post(reverse(VERSIONS), {"action": "new_draft", "_selected_action": [draft.pk]})
    assert "Coe-Po: draft v2 created." in texts(response)
    v2 = policy.versions.get(number=2)
    assert (v2.state, v2.rules.count()) == (State.DRAFT, 1)


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


@pytest.mark.parametrize(
    ("text", "seconds", "shown"),
    [
        ("30m", 1800, "30m"),
        ("4h", 14400, "4h"),
        ("1h 30m", 5400, "1h 30m"),
        ("2d", 172800, "2d"),
        ("4 hours", 14400, "4h"),
        ("90", 5400, "1h 30m"),  # a bare number is minutes, as the field's help says
    ],
)
def test_durations_are_read_and_shown_in_human_units(text, seconds, shown):
    from governance.durations import format_duration, parse_duration

    assert parse_duration(text) == seconds
    assert format_duration(seconds) == shown


@pytest.mark.parametrize("text", ["", "0m", "h", "soon", "4h later"])
def test_a_duration_without_units_or_of_nothing_is_refused(text):
    from governance.durations import parse_duration

    with pytest.raises(ValueError):
        parse_duration(text)
