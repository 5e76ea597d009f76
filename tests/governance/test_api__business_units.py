"""The business units API: scoped reads for people, creation by COE staff only."""

import pytest

from governance.models import AuditEntry, BusinessUnit

URL = "/api/v1/business-units/"


def writes() -> tuple[int, int]:
    """What a refused request must leave untouched."""
    return AuditEntry.objects.count(), BusinessUnit.objects.count()


def test_a_builder_lists_only_their_own_business_units(world, as_user):
    response = as_user(world.builder_a).get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert [unit["slug"] for unit in body["results"]] == ["unit-a"]


def test_coe_staff_list_every_business_unit(world, as_user):
    body = as_user(world.coe).get(URL).json()
    assert body["count"] == 2
    assert {unit["slug"] for unit in body["results"]} == {"unit-a", "unit-b"}


def test_a_business_unit_outside_the_callers_scope_is_not_found(world, as_user):
    response = as_user(world.builder_a).get(f"{URL}unit-b/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert as_user(world.builder_a).get(f"{URL}unit-a/").json()["name"] == "Unit-A"


def test_coe_staff_create_a_business_unit_and_the_ledger_records_it(world, as_user):
    audit_before, _ = writes()
    response = as_user(world.coe).post(
        URL, {"slug": "finance", "name": "Finance", "description": "Money."}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["slug"] == "finance"
    assert BusinessUnit.objects.filter(slug="finance").exists()
    assert AuditEntry.objects.count() == audit_before + 1
    assert AuditEntry.objects.order_by("-id").first().verb == "business_unit.created"


def test_it_refuses_to_let_a_builder_create_a_business_unit(world, as_user):
    before = writes()
    response = as_user(world.builder_a).post(
        URL, {"slug": "finance", "name": "Finance"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "coe_only"
    assert writes() == before


@pytest.mark.parametrize("field", ["id", "created_at", "agents"])
def test_it_refuses_fields_a_caller_may_not_set_on_a_business_unit(world, as_user, field):
    before = writes()
    body = {"slug": "finance", "name": "Finance", field: 7}
    response = as_user(world.coe).post(URL, body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert writes() == before


def test_it_refuses_a_business_unit_slug_that_is_taken(world, as_user):
    before = writes()
    response = as_user(world.coe).post(URL, {"slug": "unit-a", "name": "Other"}, format="json")
    assert response.status_code == 400
    assert "slug" in response.json()["error"]["fields"]
    assert writes() == before


def test_it_tells_an_agent_that_business_units_are_for_people(world, as_agent):
    response = as_agent(world.key_a).get(URL)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "people_only"


def test_it_asks_an_anonymous_caller_to_authenticate(world, api):
    response = api.get(URL)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
