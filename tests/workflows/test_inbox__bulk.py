"""Bulk decisions (workflows.bulk, `POST /api/v1/escalations/bulk/`, the inbox page's
selection): each row is decided on its own through the same service as one, so a row the
person could not decide alone is refused with its reason and the others go through."""

import uuid

import pytest
from django.test import Client

from governance import services as governance_services
from governance.models import AuditEntry, MemberRole
from tests.factories import SYSTEM, make_agent, make_user
from tests.workflows.test_inbox import fresh, make_governed, submit, verbs
from workflows import bulk, inbox
from workflows.models import ActionState

URL = "/api/v1/escalations/bulk/"
PAGE = "/workflows/inbox/bulk/"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def rows(world):
    """builder A (owner of agent A) also supervises unit A; a colleague's agent works there
    too. Escalations: two of the colleague's agent, one of agent A (builder A's own), one
    already rejected, and one of unit B."""
    make_governed()
    governance_services.add_membership(SYSTEM, world.builder_a, world.unit_a, MemberRole.SUPERVISOR)
    colleague = make_user("builder-a2")
    governance_services.add_membership(SYSTEM, colleague, world.unit_a, MemberRole.BUILDER)
    other_agent = make_agent(colleague, world.unit_a, world.role, "agent-a2", approver=world.coe)
    first = submit(other_agent, {"amount": 5000, "supplier": "ACME"})
    second = submit(other_agent, {"amount": 6000, "supplier": "Initech"})
    own = submit(world.agent_a, {"amount": 7000, "supplier": "ACME"})
    decided = submit(other_agent, {"amount": 8000})
    inbox.reject(world.supervisor_a, decided, "Not this one.")
    foreign = submit(world.agent_b, {"amount": 9000})
    return {"first": first, "second": second, "own": own, "decided": decided, "foreign": foreign}


def by_id(results: list[dict]) -> dict[str, dict]:
    return {result["id"]: result for result in results}


def test_each_row_is_decided_on_its_own_and_refusals_change_nothing(world, rows):
    unknown = uuid.uuid4()
    order = [rows[name].pk for name in ("first", "own", "foreign", "decided", "second")]
    before = AuditEntry.objects.filter(verb="escalation.approved").count()
    outcomes = bulk.decide_each(world.builder_a, [*order, unknown], "approve", "Checked.")
    assert [outcome.id for outcome in outcomes] == [str(pk) for pk in [*order, unknown]]
    codes = {outcome.id: (outcome.ok, outcome.code) for outcome in outcomes}
    assert codes[str(rows["first"].pk)] == (True, "approved")
    assert codes[str(rows["second"].pk)] == (True, "approved")
    assert codes[str(rows["own"].pk)] == (False, "not_allowed")
    assert codes[str(rows["decided"].pk)] == (False, "already_decided")
    # Outside the person's queues reads exactly like an id that does not exist.
    assert codes[str(rows["foreign"].pk)] == (False, "not_found")
    assert codes[str(unknown)] == (False, "not_found")
    foreign = next(o for o in outcomes if o.id == str(rows["foreign"].pk))
    missing = next(o for o in outcomes if o.id == str(unknown))
    assert foreign.message == missing.message
    # The approved ones are approved as one by one, each with its ledger entries.
    for name in ("first", "second"):
        escalation = fresh(rows[name])
        assert escalation.state == "approved" and escalation.decided_by == world.builder_a
        assert escalation.decision_note == "Checked."
        assert escalation.action.state == ActionState.QUEUED
        assert "escalation.approved" in verbs(escalation)
        assert "action.approved" in verbs(escalation.action)
    assert AuditEntry.objects.filter(verb="escalation.approved").count() == before + 2
    # The refused ones are as they were.
    assert fresh(rows["own"]).state == "open"
    assert fresh(rows["own"]).action.state == ActionState.PENDING_APPROVAL
    assert fresh(rows["foreign"]).state == "open"
    assert fresh(rows["decided"]).state == "rejected"
    assert "escalation.approved" not in verbs(rows["own"])


def test_a_bulk_rejection_tells_each_agent_the_one_reason(world, rows, as_user):
    ids = [str(rows["first"].pk), str(rows["own"].pk)]
    response = as_user(world.builder_a).post(
        URL, {"ids": ids, "decision": "reject", "note": "Supplier under review."}, format="json"
    )
    assert response.status_code == 200, response.content
    results = by_id(response.json()["results"])
    assert set(results[ids[0]]) == {"id", "ok", "code", "message"}
    assert results[ids[0]]["ok"] and results[ids[0]]["code"] == "rejected"
    # Rejecting is not approving: the owner rule is about approvals, as for one row.
    assert results[ids[1]]["ok"]
    for name in ("first", "own"):
        escalation = fresh(rows[name])
        assert escalation.state == "rejected"
        assert escalation.action.state == ActionState.REJECTED
        assert "Supplier under review." in escalation.action.error
        assert "escalation.rejected" in verbs(escalation)


def test_the_api_answers_200_per_id_even_when_some_rows_are_refused(world, rows, as_user):
    ids = [str(rows[name].pk) for name in ("first", "own", "foreign")]
    response = as_user(world.builder_a).post(
        URL, {"ids": ids, "decision": "approve"}, format="json"
    )
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [result["id"] for result in results] == ids
    assert [(result["ok"], result["code"]) for result in results] == [
        (True, "approved"),
        (False, "not_allowed"),
        (False, "not_found"),
    ]
    assert "own agent agent-a" in results[1]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"decision": "approve"}, "ids"),
        ({"ids": [], "decision": "approve"}, "ids"),
        ({"ids": ["nope"], "decision": "approve"}, "ids"),
        (
            {"ids": [str(uuid.uuid4()) for _ in range(bulk.BULK_MAX + 1)], "decision": "approve"},
            "ids",
        ),
        ({"ids": ["0c3f5bd4-74a8-4f7e-9d7e-3a3f0e9a1b2c"] * 2, "decision": "approve"}, "ids"),
        ({"ids": [str(uuid.uuid4())], "decision": "maybe"}, "decision"),
        ({"ids": [str(uuid.uuid4())], "decision": "reject"}, "note"),
        ({"ids": [str(uuid.uuid4())], "decision": "reject", "note": "  "}, "note"),
        ({"ids": [str(uuid.uuid4())], "decision": "approve", "note": 0}, "note"),
        ({"ids": [str(uuid.uuid4())], "decision": "approve", "extra": 1}, "extra"),
    ],
)
def test_a_bad_body_is_a_400_with_its_fields_and_decides_nothing(world, rows, as_user, body, field):
    before = AuditEntry.objects.count()
    response = as_user(world.builder_a).post(URL, body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert any(name.split(".")[0] == field for name in error["fields"]), error
    assert AuditEntry.objects.count() == before


def test_agents_and_anonymous_callers_may_not_decide_in_bulk(world, rows, api, as_agent):
    body = {"ids": [str(rows["first"].pk)], "decision": "approve"}
    assert api.post(URL, body, format="json").status_code in (401, 403)
    assert as_agent(world.key_a).post(URL, body, format="json").status_code == 403
    assert fresh(rows["first"]).state == "open"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_page_answers_per_row_and_asks_the_list_to_render_again(world, rows):
    ids = [str(rows["first"].pk), str(rows["own"].pk), str(rows["foreign"].pk)]
    response = client_for(world.builder_a).post(
        PAGE, {"ids": ids, "decision": "approve", "note": "Fine."}, **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="bulk-results"')
    assert response["HX-Trigger"] == "inbox-changed"
    assert f'id="bulk-result-{ids[0]}" data-ok="true" data-code="approved"' in html
    assert f'id="bulk-result-{ids[1]}" data-ok="false" data-code="not_allowed"' in html
    assert f'id="bulk-result-{ids[2]}" data-ok="false" data-code="not_found"' in html
    # A row outside the person's queues is named by the id they sent, nothing more.
    assert "Agent B" not in html and "agent-b" not in html
    assert fresh(rows["first"]).state == "approved"


def test_the_page_refuses_a_bad_selection_with_a_message_and_decides_nothing(world, rows):
    client = client_for(world.builder_a)
    empty = client.post(PAGE, {"decision": "approve"}, **HTMX)
    assert empty.status_code == 200
    assert "Select at least one escalation." in empty.content.decode()
    assert "HX-Trigger" not in empty
    reject = client.post(PAGE, {"ids": [str(rows["first"].pk)], "decision": "reject"}, **HTMX)
    assert "Give a reason to reject" in reject.content.decode()
    assert fresh(rows["first"]).state == "open"
    # Without htmx: back to the inbox with what happened.
    plain = client.post(PAGE, {"ids": [str(rows["first"].pk)], "decision": "approve"})
    assert plain.status_code == 302 and plain["Location"] == "/workflows/inbox/"
    assert fresh(rows["first"]).state == "approved"


def test_the_schema_documents_the_bulk_body_the_per_id_answer_and_the_lists_filters():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    post = schema["paths"]["/api/v1/escalations/bulk/"]["post"]
    assert set(post["responses"]) >= {"200", "400", "401", "403"}
    components = schema["components"]["schemas"]
    body = components["BulkDecisionRequest"]
    assert set(body["required"]) == {"ids", "decision"}
    assert body["properties"]["ids"]["maxItems"] == bulk.BULK_MAX
    outcome = components["BulkOutcome"]
    assert set(outcome["properties"]) == {"id", "ok", "code", "message"}
    listed = schema["paths"]["/api/v1/escalations/"]["get"]
    names = {parameter["name"] for parameter in listed["parameters"]}
    expected = {"q", "queue", "action_type", "agent", "priority", "state", "sla", "assigned"}
    assert names >= expected | {"sort", "limit", "offset"}
    assert "count" in components["PaginatedEscalationList"]["properties"]
