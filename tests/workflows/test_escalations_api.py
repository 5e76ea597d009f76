"""The inbox over the API (/api/v1/escalations/): scoped like the inbox pages, every
decision through workflows.inbox, and every refusal a JSON error that changes nothing."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance import services as governance_services
from governance.models import AuditEntry, MemberRole
from governance.redaction import PREFIX
from tests.factories import SYSTEM
from tests.workflows.test_inbox import IBAN, fresh, make_governed, submit, verbs
from workflows.models import ActionState, Escalation, Queue
from workflows.queues import COE_QUEUE_SLUG, coe_queue

URL = "/api/v1/escalations/"


@pytest.fixture
def governed(world):
    return make_governed()


@pytest.fixture
def waiting(world, governed):
    """An order of agent A waiting for approval in unit A's queue."""
    return submit(world.agent_a, {"amount": 5000, "supplier": "ACME", "iban": IBAN})


def rows(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


def ids(response) -> list[str]:
    return [row["id"] for row in rows(response)]


def error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}, body
    return body["error"]


def test_people_list_the_escalations_of_the_queues_they_work_only(world, waiting, as_user):
    mine = as_user(world.supervisor_a).get(URL)
    assert mine.status_code == 200
    assert ids(mine) == [str(waiting.pk)]
    row = rows(mine)[0]
    assert row["state"] == "open" and row["kind"] == "approval"
    assert row["queue"] == waiting.queue.slug
    assert row["action"]["agent"] == "agent-a"
    assert row["action"]["owner"] == world.builder_a.username
    assert row["action"]["payload"]["amount"] == 5000
    assert row["action"]["payload"]["iban"].startswith(PREFIX)  # sensitive: a keyed hash
    assert IBAN not in mine.content.decode()
    assert ids(as_user(world.coe).get(URL)) == [str(waiting.pk)]
    assert ids(as_user(world.supervisor_b).get(URL)) == []
    assert as_user(world.supervisor_b).get(f"{URL}{waiting.pk}/").status_code == 404


def test_the_list_costs_the_same_queries_for_one_row_or_many(world, waiting, as_user):
    client = as_user(world.supervisor_a)
    with CaptureQueriesContext(connection) as one:
        assert len(ids(client.get(URL))) == 1
    for amount in (6000, 7000, 8000):
        submit(world.agent_a, {"amount": amount})
    with CaptureQueriesContext(connection) as four:
        assert len(ids(client.get(URL))) == 4
    assert len(four) == len(one)


def test_the_list_filters_by_state_queue_and_assignee_and_refuses_bad_filters(
    world, waiting, as_user
):
    client = as_user(world.supervisor_a)
    assert ids(client.get(URL, {"state": "open"})) == [str(waiting.pk)]
    assert ids(client.get(URL, {"state": "approved"})) == []
    assert ids(client.get(URL, {"queue": waiting.queue.slug})) == [str(waiting.pk)]
    assert ids(client.get(URL, {"assigned": "me"})) == []
    refused = client.get(URL, {"state": "lost"})
    assert refused.status_code == 400
    assert "state" in error(refused)["fields"]


def test_agents_and_anonymous_callers_are_refused(world, waiting, api, as_agent):
    assert api.get(URL).status_code in (401, 403)
    assert as_agent(world.key_a).get(URL).status_code == 403
    assert as_agent(world.key_a).post(f"{URL}{waiting.pk}/approve/").status_code == 403
    assert fresh(waiting).state == "open"


def test_claim_then_another_supervisor_is_told_it_is_claimed(world, waiting, as_user):
    other = world.coe
    claimed = as_user(world.supervisor_a).post(f"{URL}{waiting.pk}/claim/")
    assert claimed.status_code == 200
    assert claimed.json()["state"] == "claimed"
    assert claimed.json()["claimed_by"] == world.supervisor_a.username
    refused = as_user(other).post(f"{URL}{waiting.pk}/approve/", {}, format="json")
    assert refused.status_code == 409
    assert error(refused)["code"] == "claimed"
    assert fresh(waiting).state == "claimed"
    released = as_user(world.supervisor_a).post(f"{URL}{waiting.pk}/unclaim/")
    assert released.json()["state"] == "open"


def test_approve_binds_the_payload_and_queues_the_action(world, waiting, as_user):
    approved = as_user(world.supervisor_a).post(
        f"{URL}{waiting.pk}/approve/", {"note": "checked the supplier"}, format="json"
    )
    assert approved.status_code == 200
    body = approved.json()
    assert body["state"] == "approved"
    assert body["decided_by"] == world.supervisor_a.username
    assert body["decision_note"] == "checked the supplier"
    action = fresh(waiting).action
    assert action.state in (ActionState.QUEUED, ActionState.SUCCEEDED)
    assert action.approved_payload_hash == action.payload_hash
    assert "escalation.approved" in verbs(waiting)
    again = as_user(world.coe).post(f"{URL}{waiting.pk}/approve/", {}, format="json")
    assert again.status_code == 409
    assert error(again)["code"] == "already_decided"


def test_an_edit_is_checked_against_the_schema_and_a_refusal_changes_nothing(
    world, waiting, as_user
):
    client = as_user(world.supervisor_a)
    before = AuditEntry.objects.count()
    refused = client.post(
        f"{URL}{waiting.pk}/approve/", {"payload": {"amount": -1, "x": 1}}, format="json"
    )
    assert refused.status_code == 400
    assert {"payload", "payload.amount"} <= set(error(refused)["fields"])
    assert fresh(waiting).state == "open"
    assert fresh(waiting).action.payload["amount"] == 5000
    assert AuditEntry.objects.count() == before

    shown = client.get(f"{URL}{waiting.pk}/").json()["action"]["payload"]
    edited = client.post(
        f"{URL}{waiting.pk}/approve/", {"payload": {**shown, "amount": 4000}}, format="json"
    )
    assert edited.status_code == 200
    action = fresh(waiting).action
    assert action.payload == {"amount": 4000, "supplier": "ACME", "iban": IBAN}  # hash kept


def test_bad_bodies_are_refused_with_field_errors(world, waiting, as_user):
    client = as_user(world.supervisor_a)
    cases = [
        ("reject", {}, "reason"),
        ("reject", {"reason": "no", "extra": 1}, "extra"),
        ("approve", {"payload": "not an object"}, "payload"),
        ("reassign", {}, "queue"),
        ("reassign", {"queue": COE_QUEUE_SLUG, "person": "coe"}, "queue"),
        ("reassign", {"queue": "no-such-queue"}, "queue"),
        ("reassign", {"person": world.supervisor_b.username}, "person"),
    ]
    for verb, body, field in cases:
        refused = client.post(f"{URL}{waiting.pk}/{verb}/", body, format="json")
        assert refused.status_code == 400, (verb, body, refused.content)
        assert field in error(refused)["fields"], (verb, body)
    assert fresh(waiting).state == "open"
    assert Escalation.objects.count() == 1


def test_reject_tells_the_reason_and_settles_the_action(world, waiting, as_user):
    rejected = as_user(world.supervisor_a).post(
        f"{URL}{waiting.pk}/reject/", {"reason": "Supplier not approved."}, format="json"
    )
    assert rejected.status_code == 200
    assert rejected.json()["state"] == "rejected"
    action = fresh(waiting).action
    assert action.state == ActionState.REJECTED
    assert "Supplier not approved." in action.error


def test_reassign_to_the_coe_queue_answers_the_new_escalation(world, waiting, as_user):
    coe_queue()
    moved = as_user(world.supervisor_a).post(
        f"{URL}{waiting.pk}/reassign/", {"queue": COE_QUEUE_SLUG, "note": "too big"}, format="json"
    )
    assert moved.status_code == 200
    successor = moved.json()
    assert successor["id"] != str(waiting.pk)
    assert successor["queue"] == COE_QUEUE_SLUG
    assert successor["previous"] == str(waiting.pk)
    assert fresh(waiting).state == "reassigned"
    assert str(Queue.objects.get(slug=COE_QUEUE_SLUG).escalations.get().pk) == successor["id"]


def test_an_owner_may_not_approve_their_own_agents_request(world, waiting, as_user):
    # builder A owns agent A; as a supervisor of unit A too, they may see and claim it.
    governance_services.add_membership(SYSTEM, world.builder_a, world.unit_a, MemberRole.SUPERVISOR)
    refused = as_user(world.builder_a).post(f"{URL}{waiting.pk}/approve/", {}, format="json")
    assert refused.status_code == 403
    assert "You own agent agent-a" in error(refused)["message"]
    assert fresh(waiting).state == "open"


def test_outside_scope_every_decision_is_a_404_and_changes_nothing(world, waiting, as_user):
    client = as_user(world.supervisor_b)
    for verb, body in [("claim", {}), ("approve", {}), ("reject", {"reason": "x"})]:
        refused = client.post(f"{URL}{waiting.pk}/{verb}/", body, format="json")
        assert refused.status_code == 404
        assert error(refused)["code"] == "not_found"
    assert client.get(f"{URL}not-a-uuid/").status_code == 404
    assert fresh(waiting).state == "open"
