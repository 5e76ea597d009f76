"""GET /api/v1/actions/: the actions a caller may see, filtered and paged by a cursor."""

import base64
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.workflows.factories import make_action, make_action_type
from workflows.models import ActionState

URL = "/api/v1/actions/"


@pytest.fixture
def actions(world):
    """Two actions of agent A (one denied an hour ago, one queued now) and one of agent B."""
    po = make_action_type("erp.purchase_order.create")
    refund = make_action_type("payments.refund.create")
    now = timezone.now()
    return {
        "a_old": make_action(
            world.agent_a, po, state=ActionState.DENIED, created_at=now - timedelta(hours=1)
        ),
        "a_new": make_action(world.agent_a, refund, created_at=now),
        "b": make_action(world.agent_b, po, created_at=now),
    }


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_an_agent_lists_only_its_own_actions_newest_first(world, actions, as_agent):
    listed = ids(as_agent(world.key_a).get(URL))
    assert listed == [str(actions["a_new"].pk), str(actions["a_old"].pk)]


def test_people_list_their_units_actions_and_coe_staff_all(world, actions, as_user):
    assert set(ids(as_user(world.supervisor_a).get(URL))) == {
        str(actions["a_new"].pk),
        str(actions["a_old"].pk),
    }
    assert ids(as_user(world.supervisor_b).get(URL)) == [str(actions["b"].pk)]
    assert len(ids(as_user(world.coe).get(URL))) == 3


def test_the_list_filters_by_agent_action_state_and_time(world, actions, as_user):
    client = as_user(world.coe)
    assert ids(client.get(URL, {"agent": "agent-b"})) == [str(actions["b"].pk)]
    assert ids(client.get(URL, {"action": "payments.refund.create"})) == [str(actions["a_new"].pk)]
    assert ids(client.get(URL, {"state": "denied"})) == [str(actions["a_old"].pk)]
    since = (timezone.now() - timedelta(minutes=10)).isoformat()
    assert set(ids(client.get(URL, {"since": since}))) == {
        str(actions["a_new"].pk),
        str(actions["b"].pk),
    }
    until = (timezone.now() - timedelta(minutes=10)).isoformat()
    assert ids(client.get(URL, {"until": until, "business_unit": "unit-a"})) == [
        str(actions["a_old"].pk)
    ]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"state": "exploded"}, "state"),
        ({"since": "yesterday"}, "since"),
        ({"action": "no.such.action"}, "action"),
        ({"agent": "nobody"}, "agent"),
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        # Well formed, but its position is no time: it must not reach the database.
        ({"cursor": base64.b64encode(b"o=0&r=0&p=not-a-time").decode()}, "cursor"),
        ({"cursor": base64.b64encode(b"o=0&r=0&p=2026-01-01%00").decode()}, "cursor"),
    ],
)
def test_a_bad_filter_value_is_a_400_naming_the_field(world, actions, as_user, params, field):
    response = as_user(world.coe).get(URL, params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] and error["message"]
    assert field in error["fields"]


def test_an_agent_or_unit_outside_scope_is_refused_like_an_unknown_one(
    world, actions, as_user, as_agent
):
    response = as_user(world.supervisor_a).get(URL, {"agent": "agent-b"})
    assert response.status_code == 400
    assert "agent-b" not in response.content.decode().replace('"agent"', "")
    assert as_user(world.supervisor_a).get(URL, {"business_unit": "unit-b"}).status_code == 400
    assert as_agent(world.key_a).get(URL, {"agent": "agent-b"}).status_code == 400


def test_the_cursor_pages_through_every_action_once(world, as_agent):
    po = make_action_type("erp.purchase_order.create")
    now = timezone.now()
    made = {str(make_action(world.agent_a, po, created_at=now).pk) for _ in range(5)}
    client = as_agent(world.key_a)
    seen: list[str] = []
    response = client.get(URL, {"page_size": 2})
    while True:
        seen += ids(response)
        following = response.json()["next"]
        if not following:
            break
        response = client.get(following)
    assert len(seen) == 5 and set(seen) == made


def test_a_listed_action_names_its_latest_escalation(world, as_agent):
    from workflows import inbox
    from workflows.decisions import decide_action

    po = make_action_type("erp.purchase_order.create")
    record = decide_action(world.agent_a, po.name, {}, actor=world.coe, source="gateway").record
    action = make_action(world.agent_a, po, state=ActionState.PENDING_APPROVAL, decision=record)
    escalation = inbox.open_escalation(action, record, "")
    [row] = as_agent(world.key_a).get(URL).json()["results"]
    assert row["escalation_id"] == str(escalation.pk)
    assert row["decision"]["id"] == str(record.pk)
