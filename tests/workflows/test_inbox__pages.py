"""The inbox pages: what a supervisor sees and does in the browser (htmx fragments and
plain forms), scoped to the queues they work; the activity feed."""

import html
import json
import re

import pytest
from django.test import Client

from governance import services as governance_services
from governance.models import MemberRole
from governance.redaction import PREFIX
from tests.factories import SYSTEM
from tests.workflows.test_inbox import IBAN, fresh, make_governed, submit
from workflows import inbox
from workflows.models import ActionRequest, ActionState, Escalation
from workflows.queues import coe_queue

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def governed(world):
    return make_governed()


@pytest.fixture
def escalation(world, governed):
    return submit(world.agent_a, {"amount": 5000, "supplier": "ACME", "iban": IBAN})


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def detail(escalation) -> str:
    return f"/workflows/inbox/{escalation.pk}/"


def test_the_inbox_lists_the_escalations_of_the_supervisors_unit_only(world, escalation):
    other = submit(world.agent_b, {"amount": 5000})
    page = client_for(world.supervisor_a).get("/workflows/inbox/")
    assert page.status_code == 200
    assert f'id="escalation-{escalation.pk}"' in page.content.decode()
    assert str(other.pk) not in page.content.decode()
    assert b'id="live-status"' in page.content
    coe = client_for(world.coe).get("/workflows/inbox/").content.decode()
    assert str(escalation.pk) in coe and str(other.pk) in coe


def test_htmx_asks_for_the_list_only(world, escalation):
    rows = client_for(world.supervisor_a).get("/workflows/inbox/", **HTMX).content.decode()
    assert rows.lstrip().startswith('<div id="inbox-list"')
    assert f'id="escalation-{escalation.pk}"' in rows
    assert "<html" not in rows


def test_an_escalation_outside_the_persons_queues_is_a_404(world, escalation):
    for person in (world.supervisor_b, world.builder_a, world.auditor):
        client = client_for(person)
        assert client.get(detail(escalation)).status_code == 404
        assert client.post(detail(escalation) + "approve/").status_code == 404
    assert fresh(escalation).state == "open"


def test_the_detail_shows_who_what_why_and_the_record_with_sensitive_fields_hashed(
    world, escalation
):
    page = client_for(world.supervisor_a).get(detail(escalation))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Agent A" in html and "builder-a" in html  # the agent and its owner
    assert "erp.purchase_order.create" in html
    assert "ACME" in html
    assert IBAN not in html
    assert PREFIX in html
    assert "large orders" in html  # the matched rule
    assert "Pending approval: 1" in html  # the agent's recent record
    assert 'id="approve-form"' in html


def test_claiming_from_the_list_swaps_the_row(world, escalation):
    response = client_for(world.supervisor_a).post(
        detail(escalation) + "claim/", HTTP_HX_TARGET=f"escalation-{escalation.pk}", **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith(f'<tr id="escalation-{escalation.pk}"')
    assert "Claimed" in html and "supervisor-a" in html
    assert fresh(escalation).state == "claimed"


def test_a_claim_refused_says_why_in_the_row(world, escalation):
    inbox.claim(world.coe, escalation)
    response = client_for(world.supervisor_a).post(
        detail(escalation) + "claim/", HTTP_HX_TARGET=f"escalation-{escalation.pk}", **HTMX
    )
    assert response.status_code == 200
    assert "coe has claimed this escalation" in response.content.decode()


def test_approving_from_the_page_queues_the_action(world, escalation):
    client = client_for(world.supervisor_a)
    response = client.post(detail(escalation) + "approve/", {"note": "Fine."})
    assert response.status_code == 302
    assert response["Location"] == detail(escalation)
    assert fresh(escalation).state == "approved"
    assert fresh(escalation).action.state == ActionState.QUEUED
    page = client.get(detail(escalation)).content.decode()
    assert "Approved: the action is queued for execution." in page
    assert 'id="decision-outcome"' in page
    again = client.post(detail(escalation) + "approve/", {"note": ""})
    assert again.status_code == 409
    assert "Already decided" in again.content.decode()


def test_the_owner_of_the_agent_gets_no_approve_form_and_is_refused(world, escalation):
    governance_services.add_membership(SYSTEM, world.builder_a, world.unit_a, MemberRole.SUPERVISOR)
    client = client_for(world.builder_a)
    html = client.get(detail(escalation)).content.decode()
    assert 'id="owner-warning"' in html
    assert 'id="approve-form"' not in html
    response = client.post(detail(escalation) + "approve/", {})
    assert response.status_code == 403
    assert fresh(escalation).state == "open"


def test_an_edit_that_is_not_json_is_a_form_error(world, escalation):
    response = client_for(world.supervisor_a).post(
        detail(escalation) + "edit/", {"payload": "{not json"}
    )
    assert response.status_code == 400
    assert "Enter a valid JSON" in response.content.decode()
    assert fresh(escalation).state == "open"


@pytest.mark.parametrize(
    "payload",
    ['{"amount": 5000, "supplier": "\\udfff"}', '{"amount": 1e400}', "[" * 70 + "]" * 70],
)
def test_an_edit_that_could_not_be_stored_is_a_form_error(world, escalation, payload):
    response = client_for(world.supervisor_a).post(
        detail(escalation) + "edit/", {"payload": payload}
    )
    assert response.status_code == 400
    assert response.context["edit_form"].errors["payload"]
    assert fresh(escalation).state == "open"
    assert fresh(escalation).action.payload["amount"] == 5000


def test_an_edit_against_the_schema_shows_the_field_errors_in_the_panel(world, escalation):
    response = client_for(world.supervisor_a).post(
        detail(escalation) + "edit/", {"payload": json.dumps({"amount": -3})}, **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="decision-panel"')
    assert "does not match the action&#x27;s schema" in html
    assert "payload.amount" in html
    assert fresh(escalation).state == "open"


def test_an_edit_policy_denies_shows_the_reasons_and_the_diff(world, escalation):
    response = client_for(world.supervisor_a).post(
        detail(escalation) + "edit/", {"payload": json.dumps({"amount": 90000})}, **HTMX
    )
    html = response.content.decode()
    assert "never placed by agents" in html
    assert 'id="diff"' in html and "90000" in html
    assert fresh(escalation).action.payload["amount"] == 5000


def rendered_payload(page: str) -> str:
    """The text of the page's payload editor, as the browser shows and submits it."""
    found = re.search(r'<textarea name="payload"[^>]*>(.*?)</textarea>', page, re.DOTALL)
    assert found, "no payload editor on the page"
    return html.unescape(found.group(1))


def test_the_payload_editor_shows_the_payload_as_json_that_approves_unchanged(world, escalation):
    client = client_for(world.supervisor_a)
    shown = rendered_payload(client.get(detail(escalation)).content.decode())
    payload = json.loads(shown)
    assert payload.pop("iban").startswith(PREFIX)  # sensitive: shown as its hash
    assert payload == {"amount": 5000, "supplier": "ACME"}
    assert shown.strip().startswith("{\n  ")  # indented, one field a line
    response = client.post(detail(escalation) + "edit/", {"payload": shown})
    assert response.status_code == 302
    action = ActionRequest.objects.get(pk=escalation.action_id)
    assert action.payload == {"amount": 5000, "supplier": "ACME", "iban": IBAN}
    assert action.state == ActionState.QUEUED


def test_every_id_on_the_decision_page_is_unique_and_every_label_names_one(world, escalation):
    page = client_for(world.supervisor_a).get(detail(escalation)).content.decode()
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    labelled = re.findall(r'<label[^>]*\bfor="([^"]+)"', page)
    assert labelled and set(labelled) <= set(ids)
    assert {"id_approve_note", "id_edit_note", "id_reassign_note", "id_suspend_note"} <= set(ids)


def test_an_edit_approved_from_the_page_keeps_the_hidden_iban(world, escalation):
    client = client_for(world.supervisor_a)
    shown = rendered_payload(client.get(detail(escalation)).content.decode())
    edited = {**json.loads(shown), "amount": 900}
    response = client.post(detail(escalation) + "edit/", {"payload": json.dumps(edited)})
    assert response.status_code == 302
    action = ActionRequest.objects.get(pk=escalation.action_id)
    assert action.payload == {"amount": 900, "supplier": "ACME", "iban": IBAN}
    assert action.state == ActionState.QUEUED
    page = client.get(detail(escalation)).content.decode()
    assert 'id="diff"' in page and IBAN not in page


def test_a_claimed_escalation_offers_its_forms_to_the_claimer_only(world, escalation):
    inbox.claim(world.supervisor_a, escalation)
    mine = client_for(world.supervisor_a).get(detail(escalation)).content.decode()
    assert 'id="approve-form"' in mine and 'id="claimed-elsewhere"' not in mine
    coe = client_for(world.coe)
    theirs = coe.get(detail(escalation)).content.decode()
    assert 'id="claimed-elsewhere"' in theirs and "supervisor-a" in theirs
    assert 'id="approve-form"' not in theirs and 'id="reject-form"' not in theirs
    # COE staff may give it back to the queue, and then decide it themselves.
    response = coe.post(detail(escalation) + "unclaim/", **HTMX)
    assert 'id="claimed-elsewhere"' not in response.content.decode()
    assert fresh(escalation).state == "open"


def test_rejecting_without_a_reason_is_refused_and_with_one_ends_the_action(world, escalation):
    client = client_for(world.supervisor_a)
    refused = client.post(detail(escalation) + "reject/", {"reason": " "})
    assert refused.status_code == 400
    assert "Give a reason to reject" in refused.content.decode()
    assert fresh(escalation).state == "open"
    client.post(detail(escalation) + "reject/", {"reason": "Unknown supplier."})
    assert fresh(escalation).action.state == ActionState.REJECTED


def test_reassigning_offers_the_units_and_coe_queues_and_moves_it(world, escalation):
    coe_queue()
    client = client_for(world.supervisor_a)
    form = client.get(detail(escalation)).context["reassign_form"]
    assert [q.slug for q in form.fields["queue"].queryset] == ["coe-approvals"]
    response = client.post(detail(escalation) + "reassign/", {"queue": "coe-approvals"})
    assert response.status_code == 302
    assert fresh(escalation).state == "reassigned"
    page = client.get(response["Location"]).content.decode()
    assert "Reassigned to COE approvals." in page
    # The COE queue is not hers: the page says where it went, without a link that 404s.
    assert "It continues in COE approvals, outside your queues." in page
    assert "open it</a>" not in page
    assert "Was due" in page and "if nobody decides" not in page


def test_an_escalation_handed_to_someone_else_offers_no_decision_to_the_others(world, escalation):
    client = client_for(world.supervisor_a)
    form = client.get(detail(escalation)).context["reassign_form"]
    person = next(p for p in form.fields["person"].queryset if p != world.supervisor_a)
    response = client.post(detail(escalation) + "reassign/", {"person": person.username})
    successor = Escalation.objects.get(previous=escalation)
    assert response["Location"] == detail(successor)  # still in her queue: she follows it
    old = client.get(detail(escalation)).content.decode()
    assert "It continues with" in old and f'href="{detail(successor)}">open it</a>' in old
    page = client.get(detail(successor)).content.decode()
    assert 'id="assigned-elsewhere"' in page
    assert 'id="approve-form"' not in page and 'id="reject-form"' not in page
    assignee = client_for(person).get(detail(successor)).content.decode()
    assert 'id="assigned-elsewhere"' not in assignee and 'id="reject-form"' in assignee


def test_a_supervisor_suspends_the_agent_from_the_inbox(world, escalation):
    client = client_for(world.supervisor_a)
    response = client.post(
        detail(escalation) + "suspend-agent/", {"note": "Runaway orders."}, **HTMX
    )
    assert response.status_code == 200
    assert "1 queued or pending action(s) cancelled" in response.content.decode()
    world.agent_a.refresh_from_db()
    assert world.agent_a.state == "suspended"
    assert fresh(escalation).state == "cancelled"
    assert fresh(escalation).action.state == ActionState.CANCELLED


def test_suspending_without_a_note_is_a_form_error(world, escalation):
    response = client_for(world.supervisor_a).post(detail(escalation) + "suspend-agent/", {})
    assert response.status_code == 400
    assert "Say why the agent is suspended." in response.content.decode()
    world.agent_a.refresh_from_db()
    assert world.agent_a.state == "active"


def test_the_activity_feed_shows_the_persons_units_actions_only(world, governed):
    mine = submit(world.agent_a, {"amount": 5000}).action
    theirs = submit(world.agent_b, {"amount": 5000}).action
    html = client_for(world.supervisor_a).get("/workflows/activity/").content.decode()
    assert f'id="activity-{mine.pk}"' in html
    assert str(theirs.pk) not in html
    rows = client_for(world.builder_a).get("/workflows/activity/", **HTMX).content.decode()
    assert rows.lstrip().startswith('<tbody id="activity-rows"')
    assert str(mine.pk) in rows


def test_the_home_page_shows_the_live_activity_once_under_a_plain_title(world, governed):
    action = submit(world.agent_a, {"amount": 5000}).action
    html = client_for(world.supervisor_a).get("/").content.decode()
    assert "<title>Home · Autonomy OS</title>" in html
    assert html.count('id="activity-rows"') == 1
    assert html.count(f'id="activity-{action.pk}"') == 1


def test_a_smaller_activity_feed_can_be_asked_for(world, governed):
    actions = [submit(world.agent_a, {"amount": 5000 + n}).action for n in range(3)]
    client = client_for(world.supervisor_a)
    rows = client.get("/workflows/activity/?limit=2", **HTMX).content.decode()
    assert rows.count('<tr id="activity-') == 2
    assert 'data-resync-url="/workflows/activity/?limit=2"' in rows
    assert str(actions[0].pk) not in rows  # the oldest
    for wrong in ("0", "x", "500"):
        assert client.get(f"/workflows/activity/?limit={wrong}").status_code == 200


@pytest.mark.parametrize(
    ("persona", "shown"),
    [("coe", True), ("supervisor_a", True), ("builder_a", False), ("auditor", False)],
)
def test_the_inbox_link_is_shown_to_supervisors_and_coe_staff(world, persona, shown):
    html = client_for(getattr(world, persona)).get("/").content.decode()
    assert ('id="nav-inbox"' in html) is shown


@pytest.mark.parametrize("persona", ["builder_a", "auditor"])
def test_people_who_work_no_inbox_get_404_for_it(world, escalation, persona):
    client = client_for(getattr(world, persona))
    assert client.get("/workflows/inbox/").status_code == 404
    assert client.get("/workflows/inbox/", **HTMX).status_code == 404
    assert client.get("/workflows/inbox/?assigned=me").status_code == 404
