"""Policies over the API: scoped lists and details, every route 404 for another business
unit's policy, CEL errors as 400 with line and column (nothing saved), drafts only change,
publishing keeps one published version, and writes are refused to those who may only read."""

import pytest

from governance import policies
from governance.models import AuditEntry, Policy, PolicyVersion, Rule
from tests.factories import SYSTEM

State = PolicyVersion.State


def make_policy(slug, unit=None, *, publish=True, draft=False) -> Policy:
    """A policy with one rule; published (v1) and/or with a draft."""
    policy = policies.create_policy(SYSTEM, slug, slug.title(), business_unit=unit)
    version = policy.versions.get()
    effect = "allow" if unit is None else "deny"
    policies.add_rule(SYSTEM, version, name="po", action_pattern="erp.*", effect=effect)
    if publish:
        policies.publish(SYSTEM, version)
    if publish and draft:
        policies.create_draft(SYSTEM, policy)
    return policy


@pytest.fixture
def policy_b(world) -> Policy:
    return make_policy("unit-b-policy", world.unit_b, draft=True)


def version(policy: Policy, state: str) -> PolicyVersion:
    return policy.versions.get(state=state)


def slugs(response) -> list[str]:
    return sorted(item["slug"] for item in response.json()["results"])


def test_each_person_lists_the_coe_policies_and_their_own_units(world, as_user, policy_b):
    make_policy("coe-baseline")
    make_policy("unit-a-policy", world.unit_a)
    assert slugs(as_user(world.coe).get("/api/v1/policies/")) == [
        "coe-baseline",
        "unit-a-policy",
        "unit-b-policy",
    ]
    assert slugs(as_user(world.builder_a).get("/api/v1/policies/")) == [
        "coe-baseline",
        "unit-a-policy",
    ]
    assert slugs(as_user(world.supervisor_b).get("/api/v1/policies/")) == [
        "coe-baseline",
        "unit-b-policy",
    ]


def test_a_policy_shows_its_owner_versions_and_whether_you_may_edit_it(world, as_user):
    policy = make_policy("coe-baseline", draft=True)
    body = as_user(world.builder_a).get("/api/v1/policies/coe-baseline/").json()
    assert body["owner"] == "coe" and body["business_unit"] is None
    assert body["published_version"] == version(policy, State.PUBLISHED).pk
    assert body["draft_version"] == version(policy, State.DRAFT).pk
    assert body["editable"] is False
    assert as_user(world.coe).get("/api/v1/policies/coe-baseline/").json()["editable"] is True
    versions = as_user(world.builder_a).get("/api/v1/policies/coe-baseline/versions/").json()
    assert [(v["number"], v["state"]) for v in versions] == [(2, "draft"), (1, "published")]


def foreign_routes(policy: Policy) -> list[tuple[str, str, dict]]:
    """Every policy route, aimed at `policy`."""
    draft = version(policy, State.DRAFT)
    published = version(policy, State.PUBLISHED)
    rule = draft.rules.get()
    rule_body = {"name": "x", "action_pattern": "erp.*", "effect": "deny"}
    return [
        ("get", f"/api/v1/policies/{policy.slug}/", {}),
        ("get", f"/api/v1/policies/{policy.slug}/versions/", {}),
        ("post", f"/api/v1/policies/{policy.slug}/drafts/", {}),
        ("get", f"/api/v1/policy-versions/{draft.pk}/", {}),
        ("get", f"/api/v1/policy-versions/{published.pk}/", {}),
        ("post", f"/api/v1/policy-versions/{draft.pk}/rules/", rule_body),
        ("patch", f"/api/v1/policy-versions/{draft.pk}/rules/{rule.pk}/", {"name": "y"}),
        ("delete", f"/api/v1/policy-versions/{draft.pk}/rules/{rule.pk}/", {}),
        ("post", f"/api/v1/policy-versions/{draft.pk}/publish/", {}),
        ("post", f"/api/v1/policy-versions/{published.pk}/archive/", {}),
    ]


@pytest.mark.parametrize("persona", ["builder_a", "supervisor_a", "auditor"])
def test_another_units_policy_is_404_on_every_route(world, as_user, policy_b, persona):
    client = as_user(getattr(world, persona))
    entries = AuditEntry.objects.count()
    for method, path, body in foreign_routes(policy_b):
        response = getattr(client, method)(path, body, format="json")
        assert response.status_code == 404, f"{method.upper()} {path}"
        assert response.json()["error"]["code"] == "not_found"
        assert b"unit-b" not in response.content
    assert AuditEntry.objects.count() == entries
    assert version(policy_b, State.DRAFT).rules.get().name == "po"


def test_a_cel_error_is_a_400_with_line_and_column_and_saves_nothing(world, as_user):
    policy = make_policy("unit-a-policy", world.unit_a, publish=False)
    draft = policy.versions.get()
    entries = AuditEntry.objects.count()
    response = as_user(world.builder_a).post(
        f"/api/v1/policy-versions/{draft.pk}/rules/",
        {
            "name": "big orders",
            "action_pattern": "erp.purchase_order.*",
            "effect": "deny",
            "condition": "payload.amount >",
        },
        format="json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    [message] = error["fields"]["condition"]
    assert message.startswith("line 1, column ")
    assert draft.rules.count() == 1
    assert AuditEntry.objects.count() == entries


def test_a_rule_is_added_to_a_draft_and_published(world, as_user):
    policy = make_policy("unit-a-policy", world.unit_a, draft=True)
    draft = version(policy, State.DRAFT)
    client = as_user(world.builder_a)
    response = client.post(
        f"/api/v1/policy-versions/{draft.pk}/rules/",
        {
            "name": "approve big orders",
            "action_pattern": "erp.purchase_order.*",
            "effect": "require_approval",
            "route": "unit-a-leads",
            "sla_seconds": 3600,
            "condition": "payload.amount > 10000",
            "roles": ["buyer"],
            "autonomy_levels": [2, 3],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["position"] == 1
    published = client.post(f"/api/v1/policy-versions/{draft.pk}/publish/", format="json")
    assert published.status_code == 200
    assert published.json()["state"] == "published"
    assert len(published.json()["rules"]) == 2
    assert version(policy, State.ARCHIVED).number == 1
    assert policy.versions.filter(state=State.PUBLISHED).count() == 1
    assert AuditEntry.objects.order_by("-id").first().verb == "policy.published"


def test_a_published_version_cannot_change(world, as_user):
    policy = make_policy("unit-a-policy", world.unit_a)
    published = version(policy, State.PUBLISHED)
    rule = published.rules.get()
    client = as_user(world.builder_a)
    body = {"name": "x", "action_pattern": "erp.*", "effect": "deny"}
    for response in (
        client.post(f"/api/v1/policy-versions/{published.pk}/rules/", body, format="json"),
        client.patch(
            f"/api/v1/policy-versions/{published.pk}/rules/{rule.pk}/",
            {"condition": "true"},
            format="json",
        ),
        client.delete(f"/api/v1/policy-versions/{published.pk}/rules/{rule.pk}/"),
        client.post(f"/api/v1/policy-versions/{published.pk}/publish/", format="json"),
    ):
        assert response.status_code == 409
        error = response.json()["error"]
        assert error["code"] == "invalid_state"
        assert "create a new draft" in error["message"]
    assert list(published.rules.all()) == [rule]
    rule.refresh_from_db()
    assert rule.condition == ""


def test_a_business_unit_rule_that_allows_is_refused_with_a_clear_message(world, as_user):
    policy = make_policy("unit-a-policy", world.unit_a, publish=False)
    draft = policy.versions.get()
    response = as_user(world.builder_a).post(
        f"/api/v1/policy-versions/{draft.pk}/rules/",
        {"name": "open up", "action_pattern": "erp.*", "effect": "allow"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "effect": [
            "A business-unit rule cannot allow: only the COE's rules allow. "
            "Use deny or require_approval."
        ]
    }
    assert draft.rules.count() == 1


def test_builders_read_coe_policies_but_may_not_change_them(world, as_user):
    policy = make_policy("coe-baseline", draft=True)
    draft = version(policy, State.DRAFT)
    client = as_user(world.builder_a)
    assert client.get(f"/api/v1/policy-versions/{draft.pk}/").status_code == 200
    body = {"name": "x", "action_pattern": "erp.*", "effect": "deny"}
    for response in (
        client.post(f"/api/v1/policy-versions/{draft.pk}/rules/", body, format="json"),
        client.post(f"/api/v1/policy-versions/{draft.pk}/publish/", format="json"),
        client.post("/api/v1/policies/coe-baseline/drafts/", format="json"),
    ):
        assert response.status_code == 403
        assert response.json()["error"]["message"] == (
            "Only COE staff may change the COE's policies."
        )
    assert draft.rules.count() == 1


def test_a_rule_is_changed_and_removed_on_a_draft(world, as_user):
    policy = make_policy("unit-a-policy", world.unit_a, publish=False)
    draft = policy.versions.get()
    rule = draft.rules.get()
    client = as_user(world.builder_a)
    path = f"/api/v1/policy-versions/{draft.pk}/rules/{rule.pk}/"
    bad = client.patch(path, {"condition": "payload.amount > 'x' +"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["error"]["fields"]["condition"][0].startswith("line 1, column ")
    good = client.patch(path, {"condition": "payload.amount > 5"}, format="json")
    assert good.status_code == 200
    assert good.json()["condition"] == "payload.amount > 5"
    assert client.delete(path).status_code == 204
    assert not Rule.objects.filter(pk=rule.pk).exists()
    assert client.delete(path).status_code == 404


def test_policies_are_created_with_a_draft_by_coe_and_by_builders_for_their_unit(world, as_user):
    coe = as_user(world.coe).post(
        "/api/v1/policies/", {"slug": "coe-new", "name": "COE new"}, format="json"
    )
    assert coe.status_code == 201
    assert coe.json()["owner"] == "coe"
    assert coe.json()["draft_version"] == Policy.objects.get(slug="coe-new").versions.get().pk
    builder = as_user(world.builder_a)
    mine = builder.post(
        "/api/v1/policies/",
        {"slug": "a-new", "name": "A new", "business_unit": "unit-a"},
        format="json",
    )
    assert mine.status_code == 201
    assert mine.json()["owner"] == "unit-a"
    assert (
        builder.post(
            "/api/v1/policies/", {"slug": "a-coe", "name": "COE?"}, format="json"
        ).status_code
        == 403
    )
    foreign = builder.post(
        "/api/v1/policies/",
        {"slug": "b-new", "name": "B new", "business_unit": "unit-b"},
        format="json",
    )
    assert foreign.status_code == 400
    assert foreign.json()["error"]["fields"] == {
        "business_unit": ["Choose a business unit you belong to."]
    }
    supervisor = as_user(world.supervisor_a).post(
        "/api/v1/policies/",
        {"slug": "a-sup", "name": "A sup", "business_unit": "unit-a"},
        format="json",
    )
    assert supervisor.status_code == 403
    assert sorted(Policy.objects.values_list("slug", flat=True)) == ["a-new", "coe-new"]


def test_unknown_and_read_only_fields_are_refused(world, as_user):
    response = as_user(world.coe).post(
        "/api/v1/policies/",
        {"slug": "x", "name": "X", "owner": "unit-a", "colour": "red"},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"owner", "colour"}
    assert not Policy.objects.exists()


def test_a_new_draft_copies_the_published_rules(world, as_user):
    policy = make_policy("unit-a-policy", world.unit_a)
    client = as_user(world.builder_a)
    response = client.post(
        "/api/v1/policies/unit-a-policy/drafts/", {"notes": "tighten"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["number"], body["state"], body["notes"]) == (2, "draft", "tighten")
    assert [rule["name"] for rule in body["rules"]] == ["po"]
    again = client.post("/api/v1/policies/unit-a-policy/drafts/", format="json")
    assert again.status_code == 409
    assert "already has a draft (v2)" in again.json()["error"]["message"]
    assert policy.versions.count() == 2


def test_archiving_the_published_version_stops_its_rules(world, as_user):
    policy = make_policy("unit-a-policy", world.unit_a)
    published = version(policy, State.PUBLISHED)
    client = as_user(world.coe)
    response = client.post(f"/api/v1/policy-versions/{published.pk}/archive/", format="json")
    assert response.status_code == 200
    assert response.json()["state"] == "archived"
    again = client.post(f"/api/v1/policy-versions/{published.pk}/archive/", format="json")
    assert again.status_code == 409


def test_publishing_a_draft_with_an_invalid_rule_names_the_rule(world, as_user):
    policy = make_policy("coe-baseline", publish=False)
    draft = policy.versions.get()
    Rule.objects.create(
        version=draft, name="stale", action_pattern="erp.*", effect="require_approval"
    )
    response = as_user(world.coe).post(f"/api/v1/policy-versions/{draft.pk}/publish/")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["rules"] == [
        "rule 'stale': route: A rule that requires approval needs a route: the queue to ask."
    ]
    draft.refresh_from_db()
    assert draft.state == State.DRAFT


def test_agents_may_not_use_the_policy_api(world, as_agent):
    make_policy("coe-baseline")
    response = as_agent(world.key_a).get("/api/v1/policies/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "people_only"
