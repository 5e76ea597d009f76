"""Resolving an unknown outcome from the inbox: after checking the system of record a
supervisor says the action took effect (succeeded), did not (failed), or did not and must
run again now (queued, same idempotency key). Services, pages and the live socket."""

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.utils import timezone

from agents import services as agent_services
from governance import services as governance_services
from governance.models import AuditEntry, MemberRole
from tests.factories import SYSTEM, make_user
from tests.workflows.factories import make_action, make_action_type, make_connector
from tests.workflows.test_inbox import fresh, make_governed, submit, verbs
from tests.workflows.test_inbox__pages import HTMX, client_for, detail
from tests.workflows.test_live import WAIT, headers_for, socket
from workflows import execution, inbox
from workflows.models import (
    ActionRequest,
    ActionState,
    ConnectorAttempt,
    Escalation,
    WebhookDelivery,
)

CALLBACK = "https://agent.example/callbacks"


@pytest.fixture
def after_commit(django_capture_on_commit_callbacks):
    """Run what a commit starts, the execution task included (in this process)."""
    from autonomy.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield django_capture_on_commit_callbacks
    app.conf.task_always_eager = eager


@pytest.fixture
def erp(world, httpserver):
    """An action type on an http connector to the local test server."""
    connector = make_connector(
        "http", config={"url": httpserver.url_for("/orders"), "allow_private_hosts": True}
    )
    return make_action_type(connector=connector)


def unknown_outcome(agent, action_type, **fields) -> Escalation:
    """An action whose worker died during its connector call, handed to a person by the
    sweeper as in production: needs_reconciliation, with an open escalation."""
    claimed = timezone.now() - timedelta(minutes=5)
    action = make_action(
        agent,
        action_type,
        state=ActionState.EXECUTING,
        claimed_at=claimed,
        queued_at=claimed,
        attempt_count=1,
        **fields,
    )
    ConnectorAttempt.objects.create(
        action=action,
        connector=action_type.connector,
        number=1,
        idempotency_key=str(action.pk),
        started_at=claimed,
        target="POST http://erp.example/orders",
    )
    assert execution.sweep()["reconciliation"] >= 1
    return Escalation.objects.select_related("action").get(action=action, state="open")


@pytest.fixture
def escalation(world, erp) -> Escalation:
    return unknown_outcome(world.agent_a, erp, callback_url=CALLBACK)


def action_of(escalation: Escalation) -> ActionRequest:
    return ActionRequest.objects.get(pk=escalation.action_id)


def colleague_of(world):
    """A second supervisor of unit A."""
    colleague = make_user("colleague")
    governance_services.add_membership(SYSTEM, colleague, world.unit_a, MemberRole.SUPERVISOR)
    return colleague


# Services: each outcome


def test_it_took_effect_makes_the_action_succeeded_and_calls_the_agent_back(world, escalation):
    assert action_of(escalation).state == ActionState.NEEDS_RECONCILIATION
    resolved = inbox.reconcile_succeeded(
        world.supervisor_a, escalation, " Found order 4711 in the ERP. ", "PO-4711"
    )
    action = action_of(escalation)
    assert action.state == ActionState.SUCCEEDED
    assert action.result == {"reconciled_by": "supervisor-a", "reference": "PO-4711"}
    assert action.error == ""
    assert action.completed_at is not None
    assert resolved.state == fresh(escalation).state == "resolved"
    assert resolved.decided_by == world.supervisor_a
    assert resolved.decision_note == (
        "It took effect (reference PO-4711): Found order 4711 in the ERP."
    )
    assert verbs(escalation)[-1] == "escalation.resolved"
    assert verbs(action)[-1] == "action.reconciled"
    entry = AuditEntry.objects.get(verb="action.reconciled")
    assert entry.data["outcome"] == "succeeded"
    assert entry.data["state"] == ActionState.SUCCEEDED
    assert entry.data["reference"] == "PO-4711"
    assert entry.data["note"] == "Found order 4711 in the ERP."
    assert entry.actor_name == "supervisor-a"
    callbacks = WebhookDelivery.objects.filter(action=action).order_by("created_at")
    assert [c.event for c in callbacks] == ["action.needs_reconciliation", "action.succeeded"]
    assert callbacks.last().body["data"]["result"]["reference"] == "PO-4711"


def test_it_did_not_take_effect_fails_the_action_with_the_note_and_calls_nothing(
    world, escalation, httpserver
):
    inbox.reconcile_failed(world.supervisor_a, escalation, "No order 4711 in the ERP.")
    action = action_of(escalation)
    assert action.state == ActionState.FAILED
    assert action.error == (
        "Did not take effect (checked by supervisor-a): No order 4711 in the ERP."
    )
    assert fresh(escalation).state == "resolved"
    assert AuditEntry.objects.get(verb="escalation.resolved").data["outcome"] == "failed"
    callback = WebhookDelivery.objects.filter(action=action).latest("created_at")
    assert callback.event == "action.failed"
    assert "No order 4711" in callback.body["data"]["error"]
    assert httpserver.log == []


def test_retry_now_executes_it_again_once_with_the_same_idempotency_key(
    world, escalation, httpserver, after_commit
):
    httpserver.expect_request("/orders", method="POST").respond_with_json({"erp_id": 9})
    with after_commit(execute=True):
        inbox.reconcile_retry(world.supervisor_a, escalation, "Nothing in the ERP; run it.")
        assert action_of(escalation).state == ActionState.QUEUED
    action = action_of(escalation)
    assert action.state == ActionState.SUCCEEDED
    assert action.result == {"erp_id": 9}
    assert fresh(escalation).state == "resolved"
    attempts = list(action.attempts.order_by("number"))
    assert [(a.number, a.idempotency_key) for a in attempts] == [
        (1, str(action.pk)),
        (2, str(action.pk)),
    ]
    [call] = httpserver.log
    assert call[0].headers["Idempotency-Key"] == str(action.pk)
    resolved = AuditEntry.objects.get(verb="action.reconciled")
    assert resolved.data["outcome"] == "retry"
    assert resolved.data["state"] == ActionState.QUEUED
    assert resolved.data["idempotency_key"] == str(action.pk)
    assert verbs(action)[-2:] == ["action.reconciled", "action.executed"]
    events = WebhookDelivery.objects.filter(action=action).values_list("event", flat=True)
    assert sorted(events) == ["action.needs_reconciliation", "action.succeeded"]


def test_a_retry_is_queued_without_a_callback_until_it_settles(world, escalation):
    inbox.reconcile_retry(world.supervisor_a, escalation, "Nothing in the ERP.")
    action = action_of(escalation)
    assert action.state == ActionState.QUEUED
    assert action.queued_at is not None and action.completed_at is None
    assert action.error == ""
    events = WebhookDelivery.objects.filter(action=action).values_list("event", flat=True)
    assert list(events) == ["action.needs_reconciliation"]


def test_retry_is_refused_for_an_agent_that_is_no_longer_active(world, escalation):
    agent_services.transition(world.supervisor_a, world.agent_a, "suspend", "Looping.")
    with pytest.raises(inbox.InboxError, match="agent-a is suspended") as refused:
        inbox.reconcile_retry(world.supervisor_a, escalation, "Nothing in the ERP.")
    assert "outcome" in refused.value.fields
    assert action_of(escalation).state == ActionState.NEEDS_RECONCILIATION
    assert fresh(escalation).state == "open"
    inbox.reconcile_failed(world.supervisor_a, escalation, "Nothing in the ERP.")
    assert action_of(escalation).state == ActionState.FAILED


# Services: conflicts, scope, owners, bad input


RESOLUTIONS = {
    "succeeded": lambda user, escalation: inbox.reconcile_succeeded(user, escalation, "Found."),
    "failed": lambda user, escalation: inbox.reconcile_failed(user, escalation, "Not found."),
    "retry": lambda user, escalation: inbox.reconcile_retry(user, escalation, "Not found."),
}


@pytest.mark.parametrize("first", sorted(RESOLUTIONS))
@pytest.mark.parametrize("second", sorted(RESOLUTIONS))
def test_a_resolved_escalation_cannot_be_resolved_again(world, escalation, first, second):
    RESOLUTIONS[first](world.supervisor_a, escalation)
    state = action_of(escalation).state
    before = AuditEntry.objects.count()
    with pytest.raises(inbox.AlreadyDecided, match="Already decided: resolved by supervisor-a"):
        RESOLUTIONS[second](world.coe, escalation)
    assert action_of(escalation).state == state
    assert AuditEntry.objects.count() == before


def test_an_action_no_longer_waiting_for_reconciliation_is_already_resolved(world, escalation):
    # Settled by someone else meanwhile (its escalation is still open).
    ActionRequest.objects.filter(pk=escalation.action_id).update(state=ActionState.SUCCEEDED)
    with pytest.raises(inbox.AlreadyDecided, match="Already resolved: the action is succeeded"):
        inbox.reconcile_failed(world.supervisor_a, escalation, "Not found.")
    assert fresh(escalation).state == "open"


def test_nobody_resolves_an_escalation_outside_their_queues(world, escalation):
    for person in (world.supervisor_b, world.builder_a, world.auditor):
        for resolve in RESOLUTIONS.values():
            with pytest.raises(inbox.OutOfScope):
                resolve(person, escalation)
    assert fresh(escalation).state == "open"
    assert action_of(escalation).state == ActionState.NEEDS_RECONCILIATION


def test_the_agents_owner_never_resolves_its_unknown_outcomes(world, escalation):
    governance_services.add_membership(SYSTEM, world.builder_a, world.unit_a, MemberRole.SUPERVISOR)
    for resolve in RESOLUTIONS.values():
        with pytest.raises(inbox.NotAllowed, match="must resolve its unknown outcomes"):
            resolve(world.builder_a, escalation)
    assert fresh(escalation).state == "open"
    inbox.reconcile_succeeded(world.supervisor_a, escalation, "Found.")


def test_a_claimed_or_assigned_escalation_is_resolved_by_that_person_only(world, escalation):
    colleague = colleague_of(world)
    inbox.claim(colleague, escalation)
    with pytest.raises(inbox.ClaimedByOther):
        inbox.reconcile_failed(world.supervisor_a, escalation, "Not found.")
    inbox.unclaim(colleague, escalation)
    handed = inbox.reassign(world.supervisor_a, escalation, person=colleague)
    assert handed.kind == "reconciliation"
    with pytest.raises(inbox.NotAllowed, match="assigned to colleague"):
        inbox.reconcile_failed(world.supervisor_a, handed, "Not found.")
    inbox.reconcile_failed(colleague, handed, "Not found.")
    assert action_of(escalation).state == ActionState.FAILED


@pytest.mark.parametrize("note", ["", "   ", None])
def test_every_resolution_needs_a_note(world, escalation, note):
    before = AuditEntry.objects.count()
    for name in ("succeeded", "failed", "retry"):
        resolve = getattr(inbox, f"reconcile_{name}")
        with pytest.raises(inbox.InboxError) as refused:
            resolve(world.supervisor_a, escalation, note)
        assert "note" in refused.value.fields
    assert fresh(escalation).state == "open"
    assert action_of(escalation).state == ActionState.NEEDS_RECONCILIATION
    assert AuditEntry.objects.count() == before


def test_a_reference_longer_than_a_reference_is_refused(world, escalation):
    with pytest.raises(inbox.InboxError) as refused:
        inbox.reconcile_succeeded(world.supervisor_a, escalation, "Found.", "x" * 201)
    assert "reference" in refused.value.fields
    assert fresh(escalation).state == "open"


def test_only_reconciliation_escalations_are_reconciled(world, erp):
    make_governed()
    approval = submit(world.agent_a, {"amount": 5000})
    with pytest.raises(inbox.InboxError, match="nothing to reconcile"):
        inbox.reconcile_succeeded(world.supervisor_a, approval, "Found.")
    assert fresh(approval).state == "open"
    assert action_of(approval).state == ActionState.PENDING_APPROVAL


def test_there_is_still_nothing_to_approve_on_a_reconciliation(world, escalation):
    with pytest.raises(inbox.InboxError, match="nothing to approve"):
        inbox.approve(world.supervisor_a, escalation)


# Pages


def test_the_page_shows_what_to_look_for_and_the_resolve_form(world, escalation):
    html = client_for(world.supervisor_a).get(detail(escalation)).content.decode()
    assert 'id="reconcile-form"' in html
    assert 'id="last-attempt"' in html
    assert str(escalation.action_id) in html  # the idempotency key to look for
    assert "POST http://erp.example/orders" in html
    assert "worker stopped during the call" in html
    assert 'id="approve-form"' not in html
    assert "Close without resolving" in html


def test_an_approval_escalation_has_no_resolve_form(world, erp):
    make_governed()
    approval = submit(world.agent_a, {"amount": 5000})
    html = client_for(world.supervisor_a).get(detail(approval)).content.decode()
    assert 'id="reconcile-form"' not in html
    assert 'id="approve-form"' in html


def test_resolving_from_the_page_redirects_with_a_notice(world, escalation):
    client = client_for(world.supervisor_a)
    response = client.post(
        detail(escalation) + "reconcile/",
        {"outcome": "succeeded", "note": "Found it.", "reference": "PO-1"},
    )
    assert response.status_code == 302
    assert response["Location"] == detail(escalation)
    assert action_of(escalation).state == ActionState.SUCCEEDED
    page = client.get(detail(escalation)).content.decode()
    assert "Resolved: the action succeeded" in page
    assert 'id="decision-outcome"' in page and "It took effect (reference PO-1)" in page
    assert 'id="reconcile-form"' not in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"note": "Found."}, "Say whether the change took effect."),
        ({"outcome": "succeeded", "note": " "}, "Say what you checked in the system of record."),
        ({"outcome": "maybe", "note": "Found."}, "Select a valid choice."),
        (
            {"outcome": "failed", "note": "Not found.", "reference": "PO-1"},
            "A reference is kept only when the change took effect.",
        ),
    ],
)
def test_a_bad_resolution_is_a_form_error_and_changes_nothing(world, escalation, data, message):
    before = AuditEntry.objects.count()
    response = client_for(world.supervisor_a).post(detail(escalation) + "reconcile/", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert fresh(escalation).state == "open"
    assert action_of(escalation).state == ActionState.NEEDS_RECONCILIATION
    assert AuditEntry.objects.count() == before


def test_htmx_gets_the_decision_panel_with_the_new_action_state(world, escalation):
    response = client_for(world.supervisor_a).post(
        detail(escalation) + "reconcile/", {"outcome": "failed", "note": "Not found."}, **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="decision-panel"')
    assert "Resolved: the action failed" in html
    assert 'data-action-state="Failed"' in html
    assert "hx-swap-oob" not in html  # the page copies the states itself (static/js/live.js)


def test_htmx_form_errors_come_back_in_the_panel(world, escalation):
    response = client_for(world.supervisor_a).post(
        detail(escalation) + "reconcile/", {"outcome": "retry"}, **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="decision-panel"')
    assert "Say what you checked in the system of record." in html
    assert fresh(escalation).state == "open"


def test_the_second_person_is_told_it_is_already_resolved(world, escalation):
    inbox.reconcile_failed(world.coe, escalation, "Not found.")
    client = client_for(world.supervisor_a)
    page = client.post(detail(escalation) + "reconcile/", {"outcome": "retry", "note": "Gone."})
    assert page.status_code == 409
    assert "Already decided: resolved by coe" in page.content.decode()
    panel = client.post(
        detail(escalation) + "reconcile/", {"outcome": "retry", "note": "Gone."}, **HTMX
    )
    assert panel.status_code == 200
    assert "Already decided: resolved by coe" in panel.content.decode()
    assert action_of(escalation).state == ActionState.FAILED


def test_outside_the_persons_queues_resolving_is_a_404(world, escalation):
    for person in (world.supervisor_b, world.builder_a, world.auditor):
        response = client_for(person).post(
            detail(escalation) + "reconcile/", {"outcome": "failed", "note": "x"}
        )
        assert response.status_code == 404
    assert fresh(escalation).state == "open"


def test_the_owner_gets_no_resolve_form_and_is_refused(world, escalation):
    governance_services.add_membership(SYSTEM, world.builder_a, world.unit_a, MemberRole.SUPERVISOR)
    client = client_for(world.builder_a)
    html = client.get(detail(escalation)).content.decode()
    assert 'id="owner-warning"' in html and "resolve its unknown outcomes" in html
    assert 'id="reconcile-form"' not in html
    response = client.post(detail(escalation) + "reconcile/", {"outcome": "failed", "note": "x"})
    assert response.status_code == 403
    assert fresh(escalation).state == "open"


def test_a_resolved_escalations_row_says_so(world, escalation):
    inbox.reconcile_succeeded(world.supervisor_a, escalation, "Found.")
    html = client_for(world.supervisor_a).get(detail(escalation)).content.decode()
    assert 'data-state="resolved"' in html
    assert ">Resolved</span>" in html


# The live socket


def test_a_resolution_reaches_the_units_supervisors_live(transactional_db, world, httpserver):
    connector = make_connector(
        "http", config={"url": httpserver.url_for("/orders"), "allow_private_hosts": True}
    )
    escalation = unknown_outcome(world.agent_a, make_action_type(connector=connector))
    headers = {name: headers_for(getattr(world, name)) for name in ("supervisor_a", "supervisor_b")}

    async def scenario():
        sockets = {name: socket(value) for name, value in headers.items()}
        for communicator in sockets.values():
            ok, _ = await communicator.connect()
            assert ok
        await sync_to_async(inbox.reconcile_succeeded)(world.supervisor_a, escalation, "Found.")
        received = [await sockets["supervisor_a"].receive_json_from(timeout=WAIT)]
        received.append(await sockets["supervisor_a"].receive_json_from(timeout=WAIT))
        kinds = {message["type"]: message for message in received}
        assert set(kinds) == {"activity", "escalation.decided"}
        assert kinds["escalation.decided"]["id"] == str(escalation.pk)
        assert "Resolved" in kinds["escalation.decided"]["html"]
        assert f'id="activity-{escalation.action_id}"' in kinds["activity"]["html"]
        assert await sockets["supervisor_b"].receive_nothing(timeout=0.5)
        for communicator in sockets.values():
            await communicator.disconnect()

    async_to_sync(scenario)()
