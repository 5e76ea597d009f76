"""Kill switches as services: who may engage and release them, the ledger, and their effect."""

import pytest
from django.core.cache import cache

from agents.authentication import AgentPrincipal
from governance import epochs, switches
from governance.models import AuditEntry, KillSwitch

ACTION = "erp.purchase_order.create"


@pytest.fixture(autouse=True)
def forget_switches_afterwards():
    """Rows vanish with each test's rollback; a new epoch makes every cache forget them."""
    yield
    cache.add(epochs.SWITCHES, 0, timeout=None)
    cache.incr(epochs.SWITCHES)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a service as if its transaction committed (on_commit callbacks included)."""

    def run(service, *args):
        with django_capture_on_commit_callbacks(execute=True):
            return service(*args)

    return run


def entries(verb: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(verb=verb).order_by("id"))


def test_coe_staff_freeze_a_unit_and_the_ledger_says_who_and_why(world):
    switch = switches.engage_freeze(world.coe, world.unit_a, "  Runaway purchase orders  ")

    assert switch.active and switch.kind == KillSwitch.Kind.FREEZE_BUSINESS_UNIT
    assert switch.reason == "Runaway purchase orders"
    [entry] = entries("kill_switch.engaged")
    assert entry.actor_name == "coe"
    assert entry.business_unit_id == world.unit_a.pk
    assert entry.object_id == str(switch.pk)
    assert entry.data == {
        "kind": "freeze_business_unit",
        "business_unit": "unit-a",
        "action_pattern": "",
        "reason": "Runaway purchase orders",
    }


def test_release_records_who_and_why_and_the_switch_stops_blocking(world, committed):
    switch = committed(switches.engage_block, world.coe, "erp.payment.*", "Bank outage")
    assert switches.blocking_switch("unit-a", "erp.payment.send") is not None

    released = committed(switches.release, world.coe, switch, "Bank is back")

    assert not released.active
    assert released.released_by == world.coe and released.release_reason == "Bank is back"
    [entry] = entries("kill_switch.released")
    assert entry.actor_name == "coe" and entry.business_unit_id is None
    assert entry.data["reason"] == "Bank is back"
    assert entry.data["action_pattern"] == "erp.payment.*"
    assert switches.blocking_switch("unit-a", "erp.payment.send") is None


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_a_reason_is_required_and_nothing_changes_without_one(world, reason):
    with pytest.raises(switches.InvalidSwitch, match="reason is required") as freeze:
        switches.engage_freeze(world.coe, world.unit_a, reason)
    with pytest.raises(switches.InvalidSwitch, match="reason is required"):
        switches.engage_block(world.coe, "erp.*", reason)
    switch = switches.engage_block(world.coe, "crm.*", "Testing release")
    with pytest.raises(switches.InvalidSwitch, match="reason is required"):
        switches.release(world.coe, switch, reason)

    assert freeze.value.field == "reason"
    assert list(KillSwitch.objects.values_list("action_pattern", "active")) == [("crm.*", True)]
    assert len(entries("kill_switch.engaged")) == 1
    assert entries("kill_switch.released") == []


def test_a_supervisor_freezes_their_own_unit_but_not_another(world):
    own = switches.engage_freeze(world.supervisor_a, world.unit_a, "Agents misbehaving")

    with pytest.raises(switches.NotAllowed):
        switches.engage_freeze(world.supervisor_b, world.unit_a, "Not mine")

    assert own.engaged_by == world.supervisor_a
    assert KillSwitch.objects.count() == 1


@pytest.mark.parametrize("persona", ["builder_a", "auditor", "agent_a"])
def test_builders_auditors_and_agents_may_not_freeze(world, persona):
    who = AgentPrincipal(world.agent_a, None) if persona == "agent_a" else getattr(world, persona)
    with pytest.raises(switches.NotAllowed):
        switches.engage_freeze(who, world.unit_a, "Trying")
    assert not KillSwitch.objects.exists()


@pytest.mark.parametrize("persona", ["builder_a", "supervisor_a", "auditor"])
def test_only_coe_staff_block_an_action_pattern(world, persona):
    with pytest.raises(switches.NotAllowed):
        switches.engage_block(getattr(world, persona), "erp.*", "Trying")
    assert not KillSwitch.objects.exists()


def test_a_supervisor_releases_a_supervisors_freeze_but_not_the_coes(world):
    by_supervisor = switches.engage_freeze(world.supervisor_a, world.unit_a, "Pause")
    switches.release(world.supervisor_a, by_supervisor, "Fixed")
    by_coe = switches.engage_freeze(world.coe, world.unit_a, "COE stop")

    with pytest.raises(switches.NotAllowed):
        switches.release(world.supervisor_a, by_coe, "I think it is fine")
    with pytest.raises(switches.NotAllowed):
        switches.release(world.supervisor_b, by_supervisor, "Not my unit")

    by_coe.refresh_from_db()
    assert by_coe.active


def test_a_unit_is_not_frozen_twice_and_a_switch_not_released_twice(world):
    switch = switches.engage_freeze(world.coe, world.unit_a, "First")
    with pytest.raises(switches.AlreadyDone, match="already frozen"):
        switches.engage_freeze(world.supervisor_a, world.unit_a, "Second")
    with pytest.raises(switches.AlreadyDone, match="already blocked"):
        switches.engage_block(world.coe, "erp.*", "Once")
        switches.engage_block(world.coe, "erp.*", "Twice")

    switches.release(world.coe, switch, "Done")
    with pytest.raises(switches.AlreadyDone, match="already released"):
        switches.release(world.coe, switch, "Done again")
    assert len(entries("kill_switch.released")) == 1


@pytest.mark.parametrize("pattern", ["", "ERP.*", "erp..x", "erp.*.", "x" * 201])
def test_a_block_needs_a_valid_action_pattern(world, pattern):
    with pytest.raises(switches.InvalidSwitch) as refused:
        switches.engage_block(world.coe, pattern, "Bad pattern")
    assert refused.value.field == "action_pattern"
    assert not KillSwitch.objects.exists()


def test_blocking_switch_names_what_stops_an_action(world, committed):
    freeze = committed(switches.engage_freeze, world.coe, world.unit_a, "Freeze A")
    block = committed(switches.engage_block, world.coe, "crm.opportunity.*", "CRM migration")

    assert switches.blocking_switch("unit-a", ACTION).id == freeze.pk
    assert switches.blocking_switch("unit-b", ACTION) is None
    found = switches.blocking_switch("unit-b", "crm.opportunity.delete")
    assert (found.id, found.kind, found.action_pattern) == (
        block.pk,
        "block_action",
        "crm.opportunity.*",
    )
    assert found.reason == "CRM migration"
    assert switches.blocking_switch("unit-b", "crm.lead.create") is None


def test_a_switch_is_effective_on_the_next_check_once_committed(world, committed):
    assert switches.blocking_switch("unit-a", ACTION) is None  # the cache is now warm
    before = epochs.current(epochs.SWITCHES)[epochs.SWITCHES]

    switch = committed(switches.engage_freeze, world.supervisor_a, world.unit_a, "Stop")

    assert epochs.current(epochs.SWITCHES)[epochs.SWITCHES] > before
    assert switches.blocking_switch("unit-a", ACTION).id == switch.pk
    committed(switches.release, world.supervisor_a, switch, "Go")
    assert switches.blocking_switch("unit-a", ACTION) is None


def test_people_see_freezes_of_their_units_and_every_block(world):
    freeze_a = switches.engage_freeze(world.coe, world.unit_a, "A")
    freeze_b = switches.engage_freeze(world.coe, world.unit_b, "B")
    block = switches.engage_block(world.coe, "erp.*", "All")

    def seen(user):
        return set(KillSwitch.objects.for_person(user))

    assert seen(world.coe) == {freeze_a, freeze_b, block}
    assert seen(world.supervisor_a) == {freeze_a, block}
    assert seen(world.builder_a) == {freeze_a, block}
    assert seen(world.supervisor_b) == {freeze_b, block}
    assert seen(AgentPrincipal(world.agent_a, None)) == set()
