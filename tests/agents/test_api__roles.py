"""The agent roles API: every person reads the COE's roles; only COE staff define them."""

import pytest

from agents.models import AgentRole
from governance.models import AuditEntry

URL = "/api/v1/roles/"

NEW_ROLE = {
    "slug": "support",
    "name": "Support",
    "description": "Answers customers.",
    "action_patterns": ["crm.ticket.*", "email.send"],
    "data_classifications": ["internal", "confidential"],
    "default_autonomy_level": 1,
    "default_limits": {"actions_per_hour": 100},
}


def writes() -> tuple[int, int]:
    """What a refused request must leave untouched."""
    return AuditEntry.objects.count(), AgentRole.objects.count()


def test_any_signed_in_person_reads_the_roles(world, as_user):
    for person in (world.auditor, world.supervisor_b, world.builder_a):
        response = as_user(person).get(URL)
        assert response.status_code == 200
        assert [role["slug"] for role in response.json()["results"]] == ["buyer"]
    detail = as_user(world.auditor).get(f"{URL}buyer/").json()
    assert detail["action_patterns"] == ["erp.purchase_order.*"]
    assert detail["default_autonomy_level"] == 2


def test_coe_staff_define_a_role_and_the_ledger_records_it(world, as_user):
    audit_before, roles_before = writes()
    response = as_user(world.coe).post(URL, NEW_ROLE, format="json")
    assert response.status_code == 201, response.json()
    role = AgentRole.objects.get(slug="support")
    assert role.action_patterns == ["crm.ticket.*", "email.send"]
    assert writes() == (audit_before + 1, roles_before + 1)
    entry = AuditEntry.objects.order_by("-id").first()
    assert (entry.verb, entry.object_id) == ("role.created", str(role.pk))


def test_coe_staff_change_a_role_and_the_ledger_keeps_before_and_after(world, as_user):
    audit_before = AuditEntry.objects.count()
    response = as_user(world.coe).patch(
        f"{URL}buyer/", {"action_patterns": ["erp.purchase_order.create"]}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert AgentRole.objects.get(slug="buyer").action_patterns == ["erp.purchase_order.create"]
    assert AuditEntry.objects.count() == audit_before + 1
    entry = AuditEntry.objects.order_by("-id").first()
    assert entry.verb == "role.updated"
    assert entry.data["changes"]["action_patterns"] == {
        "before": ["erp.purchase_order.*"],
        "after": ["erp.purchase_order.create"],
    }


@pytest.mark.parametrize("person", ["builder_a", "supervisor_a", "auditor"])
def test_it_refuses_to_let_anyone_but_the_coe_define_or_change_roles(world, as_user, person):
    client = as_user(getattr(world, person))
    before = writes()
    created = client.post(URL, NEW_ROLE, format="json")
    changed = client.patch(f"{URL}buyer/", {"name": "Changed"}, format="json")
    assert (created.status_code, changed.status_code) == (403, 403)
    assert created.json()["error"]["code"] == "coe_only"
    assert writes() == before
    assert AgentRole.objects.get(slug="buyer").name == "Buyer"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("action_patterns", ["Not A Pattern!"]),
        ("data_classifications", ["top-secret"]),
        ("default_autonomy_level", 9),
        ("default_limits", ["not", "an", "object"]),
        ("id", 42),
        ("history", []),
    ],
)
def test_it_refuses_a_role_with_an_invalid_or_forbidden_field(world, as_user, field, value):
    before = writes()
    response = as_user(world.coe).post(URL, {**NEW_ROLE, field: value}, format="json")
    assert response.status_code == 400
    # Errors inside a list are named by their path, e.g. "data_classifications.0".
    assert any(key.split(".")[0] == field for key in response.json()["error"]["fields"])
    assert writes() == before


def test_it_refuses_to_rename_a_roles_slug(world, as_user):
    before = writes()
    response = as_user(world.coe).patch(f"{URL}buyer/", {"slug": "purchaser"}, format="json")
    assert response.status_code == 400
    assert "slug" in response.json()["error"]["fields"]
    assert writes() == before


def test_it_tells_an_agent_that_roles_are_for_people(world, as_agent):
    response = as_agent(world.key_a).get(URL)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "people_only"
