"""The agents API: scoped lists and details, and registration by builders.

Registration refuses, with a 400 naming the field and without writing anything, every
field the caller may not set: a business unit outside theirs, the lifecycle state, the
owner, keys, the id.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents import services
from agents.models import Agent, AgentAPIKey
from governance.models import AuditEntry
from tests.factories import make_agent

URL = "/api/v1/agents/"


def writes() -> tuple[int, int, int]:
    """What a refused request must leave untouched."""
    return AuditEntry.objects.count(), Agent.objects.count(), AgentAPIKey.objects.count()


def registration(**extra) -> dict:
    return {
        "slug": "invoice-matcher",
        "name": "Invoice matcher",
        "purpose": "Matches invoices to purchase orders.",
        "business_unit": "unit-a",
        "role": "buyer",
        "capabilities": ["invoices", "matching"],
        **extra,
    }


@pytest.mark.parametrize(
    ("person", "visible"),
    [
        ("builder_a", ["agent-a"]),
        ("supervisor_a", ["agent-a"]),
        ("auditor", ["agent-a"]),
        ("supervisor_b", ["agent-b"]),
        ("coe", ["agent-a", "agent-b"]),
    ],
)
def test_each_person_lists_only_the_agents_of_their_business_units(world, as_user, person, visible):
    body = as_user(getattr(world, person)).get(URL).json()
    assert [agent["slug"] for agent in body["results"]] == visible
    assert body["count"] == len(visible)


def test_the_list_costs_the_same_queries_for_one_agent_or_many(world, as_user):
    client = as_user(world.coe)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(URL).status_code == 200
        return len(captured)

    few = queries()
    for number in range(5):
        agent = make_agent(
            world.builder_a, world.unit_a, world.role, f"more-{number}", approver=world.coe
        )
        services.issue_key(world.builder_a, agent)
    assert queries() == few


def test_builder_a_never_sees_agent_b(world, as_user):
    client = as_user(world.builder_a)
    detail = client.get(f"{URL}agent-b/")
    assert detail.status_code == 404
    assert detail.json()["error"]["code"] == "not_found"
    assert client.get(URL, {"q": "agent-b"}).json()["count"] == 0
    assert client.get(URL, {"state": "active"}).json()["count"] == 1
    for action in ("keys/", "suspend/"):
        assert client.post(f"{URL}agent-b/{action}", {"note": "x"}).status_code == 404


def test_filtering_by_another_business_unit_reveals_nothing(world, as_user):
    response = as_user(world.builder_a).get(URL, {"business_unit": world.unit_b.pk})
    assert response.status_code == 400
    assert "business_unit" in response.json()["error"]["fields"]


def test_the_detail_shows_identity_owner_role_and_keys_without_secrets(world, as_user):
    body = as_user(world.builder_a).get(f"{URL}agent-a/").json()
    assert body["business_unit"] == "unit-a"
    assert body["role"] == "buyer"
    assert body["owner"] == "builder-a"
    assert body["state"] == "active"
    assert [key["prefix"] for key in body["keys"]] == [world.key_a.split(".")[0]]
    assert world.key_a not in str(body)
    assert "key" not in body["keys"][0]


def test_a_builder_registers_an_agent_that_awaits_review(world, as_user):
    audit_before, agents_before, _ = writes()
    response = as_user(world.builder_a).post(URL, registration(), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["state"], body["owner"], body["autonomy_level"]) == (
        "pending_review",
        "builder-a",
        2,
    )
    assert Agent.objects.count() == agents_before + 1
    assert AuditEntry.objects.count() == audit_before + 1
    assert AuditEntry.objects.order_by("-id").first().verb == "agent.registered"


def test_it_refuses_a_business_unit_outside_the_builders_own(world, as_user):
    before = writes()
    response = as_user(world.builder_a).post(
        URL, registration(business_unit="unit-b"), format="json"
    )
    assert response.status_code == 400
    assert "business_unit" in response.json()["error"]["fields"]
    assert writes() == before


def test_it_refuses_registration_by_someone_who_builds_nowhere(world, as_user):
    before = writes()
    response = as_user(world.supervisor_a).post(URL, registration(), format="json")
    assert response.status_code == 400
    assert "business_unit" in response.json()["error"]["fields"]
    assert writes() == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("state", "active"),
        ("owner", "coe"),
        ("keys", [{"name": "sneaky"}]),
        ("id", 999),
        ("created_at", "2020-01-01T00:00:00Z"),
        ("state_changed_at", "2020-01-01T00:00:00Z"),
        ("api_keys", []),
    ],
)
def test_it_refuses_fields_a_caller_may_not_set_instead_of_ignoring_them(
    world, as_user, field, value
):
    before = writes()
    response = as_user(world.builder_a).post(URL, registration(**{field: value}), format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert writes() == before


def test_it_refuses_a_level_above_the_roles_for_a_builder_but_not_for_the_coe(world, as_user):
    before = writes()
    response = as_user(world.builder_a).post(URL, registration(autonomy_level=3), format="json")
    assert response.status_code == 400
    assert "autonomy_level" in response.json()["error"]["fields"]
    assert writes() == before
    coe = as_user(world.coe).post(URL, registration(autonomy_level=3), format="json")
    assert coe.status_code == 201
    assert coe.json()["autonomy_level"] == 3


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("slug", "agent-a"),
        ("slug", "Not a slug"),
        ("role", "no-such-role"),
        ("capabilities", ["not a tag!"]),
        ("purpose", ""),
    ],
)
def test_it_refuses_invalid_registrations_with_the_field_named(world, as_user, field, value):
    before = writes()
    response = as_user(world.builder_a).post(URL, registration(**{field: value}), format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert writes() == before


def test_it_tells_an_agent_that_the_registry_is_for_people(world, as_agent):
    client = as_agent(world.key_a)
    before = writes()
    for response in (
        client.get(URL),
        client.get(f"{URL}agent-a/"),
        client.post(URL, registration(), format="json"),
        client.post(f"{URL}agent-a/retire/", {}, format="json"),
    ):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "people_only"
    assert writes() == before


def test_a_builder_may_not_register_an_agent_at_l3_even_when_the_role_allows_it(world, as_user):
    world.role.default_autonomy_level = 3
    world.role.save()
    before = Agent.objects.count()
    refused = as_user(world.builder_a).post(URL, registration(autonomy_level=3), format="json")
    assert refused.status_code == 400
    assert "granted by the COE only" in refused.json()["error"]["fields"]["autonomy_level"][0]
    defaulted = as_user(world.builder_a).post(URL, registration(), format="json")
    assert defaulted.status_code == 400
    assert "choose L0-L2" in defaulted.json()["error"]["fields"]["autonomy_level"][0]
    assert Agent.objects.count() == before


def test_the_service_refuses_l3_to_a_builder_whatever_the_caller(world):
    with pytest.raises(services.LevelNotAllowed):
        services.register_agent(
            world.builder_a,
            slug="sneaky",
            name="Sneaky",
            purpose="x",
            business_unit=world.unit_a,
            role=world.role,
            autonomy_level=3,
        )
    assert not Agent.objects.filter(slug="sneaky").exists()
