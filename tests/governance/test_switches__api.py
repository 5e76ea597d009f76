"""Kill switches over the API: scoped lists and details, engage, release, and every refusal."""

import pytest
from django.core.cache import cache

from governance import epochs, switches
from governance.models import AuditEntry, KillSwitch

URL = "/api/v1/kill-switches/"


@pytest.fixture(autouse=True)
def forget_switches_afterwards():
    """Rows vanish with each test's rollback; a new epoch makes every cache forget them."""
    yield
    cache.add(epochs.SWITCHES, 0, timeout=None)
    cache.incr(epochs.SWITCHES)


def ids(response) -> set[int]:
    return {row["id"] for row in response.json()["results"]}


def test_people_list_freezes_of_their_units_and_every_block(world, as_user):
    freeze_a = switches.engage_freeze(world.coe, world.unit_a, "A")
    freeze_b = switches.engage_freeze(world.coe, world.unit_b, "B")
    block = switches.engage_block(world.coe, "erp.*", "All")

    assert ids(as_user(world.coe).get(URL)) == {freeze_a.pk, freeze_b.pk, block.pk}
    assert ids(as_user(world.supervisor_a).get(URL)) == {freeze_a.pk, block.pk}
    assert ids(as_user(world.auditor).get(URL)) == {freeze_a.pk, block.pk}
    response = as_user(world.supervisor_b).get(URL)
    assert ids(response) == {freeze_b.pk, block.pk}
    assert b"unit-a" not in response.content


def test_a_switch_outside_scope_is_404(world, as_user):
    freeze_a = switches.engage_freeze(world.coe, world.unit_a, "A")

    response = as_user(world.supervisor_b).get(f"{URL}{freeze_a.pk}/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_the_list_filters_by_state_kind_and_unit(world, as_user):
    freeze_a = switches.engage_freeze(world.coe, world.unit_a, "A")
    block = switches.engage_block(world.coe, "erp.*", "All")
    switches.release(world.coe, block, "Over")
    client = as_user(world.coe)

    assert ids(client.get(URL, {"active": "true"})) == {freeze_a.pk}
    assert ids(client.get(URL, {"active": "false"})) == {block.pk}
    assert ids(client.get(URL, {"kind": "block_action"})) == {block.pk}
    assert ids(client.get(URL, {"business_unit": "unit-a"})) == {freeze_a.pk}


def test_a_supervisor_freezes_their_unit_through_the_api(world, as_user):
    response = as_user(world.supervisor_a).post(
        URL,
        {"kind": "freeze_business_unit", "business_unit": "unit-a", "reason": "Stop now"},
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["business_unit"] == "unit-a" and body["active"] is True
    assert body["engaged_by"] == "supervisor-a" and body["reason"] == "Stop now"
    entry = AuditEntry.objects.get(verb="kill_switch.engaged")
    assert entry.actor_name == "supervisor-a" and entry.object_id == str(body["id"])


def test_supervisor_b_cannot_freeze_unit_a_it_is_404(world, as_user):
    response = as_user(world.supervisor_b).post(
        URL,
        {"kind": "freeze_business_unit", "business_unit": "unit-a", "reason": "Not mine"},
        format="json",
    )

    assert response.status_code == 404
    assert not KillSwitch.objects.exists()


@pytest.mark.parametrize("persona", ["builder_a", "auditor"])
def test_people_who_do_not_supervise_a_unit_may_not_freeze_it(world, as_user, persona):
    response = as_user(getattr(world, persona)).post(
        URL,
        {"kind": "freeze_business_unit", "business_unit": "unit-a", "reason": "Trying"},
        format="json",
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not KillSwitch.objects.exists()


def test_only_coe_staff_block_a_pattern(world, as_user):
    body = {"kind": "block_action", "action_pattern": "erp.payment.*", "reason": "Bank outage"}

    refused = as_user(world.supervisor_a).post(URL, body, format="json")
    engaged = as_user(world.coe).post(URL, body, format="json")

    assert refused.status_code == 403
    assert engaged.status_code == 201
    assert engaged.json()["action_pattern"] == "erp.payment.*"
    assert engaged.json()["business_unit"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "freeze_business_unit", "business_unit": "unit-a"}, "reason"),
        ({"kind": "freeze_business_unit", "business_unit": "unit-a", "reason": "  "}, "reason"),
        ({"kind": "freeze_business_unit", "reason": "No unit"}, "business_unit"),
        ({"kind": "block_action", "reason": "No pattern"}, "action_pattern"),
        (
            {"kind": "block_action", "action_pattern": "Bad Pattern", "reason": "x"},
            "action_pattern",
        ),
        (
            {
                "kind": "block_action",
                "action_pattern": "erp.*",
                "business_unit": "unit-a",
                "reason": "x",
            },
            "business_unit",
        ),
        ({"kind": "freeze_everything", "reason": "x"}, "kind"),
        (
            {"kind": "block_action", "action_pattern": "erp.*", "reason": "x", "active": False},
            "active",
        ),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_changes_nothing(world, as_user, body, field):
    response = as_user(world.coe).post(URL, body, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and field in error["fields"]
    assert not KillSwitch.objects.exists()
    assert not AuditEntry.objects.filter(verb="kill_switch.engaged").exists()


def test_freezing_a_frozen_unit_is_a_conflict(world, as_user):
    switches.engage_freeze(world.coe, world.unit_a, "First")

    response = as_user(world.supervisor_a).post(
        URL,
        {"kind": "freeze_business_unit", "business_unit": "unit-a", "reason": "Again"},
        format="json",
    )

    assert response.status_code == 409
    assert KillSwitch.objects.count() == 1


def test_release_needs_a_reason_and_happens_once(world, as_user):
    switch = switches.engage_block(world.coe, "erp.*", "Outage")
    client = as_user(world.coe)
    url = f"{URL}{switch.pk}/release/"

    missing = client.post(url, {}, format="json")
    released = client.post(url, {"reason": "Resolved"}, format="json")
    again = client.post(url, {"reason": "Resolved twice"}, format="json")

    assert missing.status_code == 400 and "reason" in missing.json()["error"]["fields"]
    assert released.status_code == 200
    assert released.json()["active"] is False
    assert released.json()["released_by"] == "coe"
    assert released.json()["release_reason"] == "Resolved"
    assert again.status_code == 409
    assert AuditEntry.objects.filter(verb="kill_switch.released").count() == 1


def test_a_supervisor_may_not_release_the_coes_freeze_and_b_does_not_see_it(world, as_user):
    switch = switches.engage_freeze(world.coe, world.unit_a, "COE stop")
    url = f"{URL}{switch.pk}/release/"

    assert as_user(world.supervisor_a).post(url, {"reason": "x"}, format="json").status_code == 403
    assert as_user(world.supervisor_b).post(url, {"reason": "x"}, format="json").status_code == 404
    switch.refresh_from_db()
    assert switch.active


def test_agents_may_not_use_the_kill_switch_api(world, as_agent):
    response = as_agent(world.key_a).post(
        URL,
        {"kind": "freeze_business_unit", "business_unit": "unit-a", "reason": "Me"},
        format="json",
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "people_only"
    assert not KillSwitch.objects.exists()
