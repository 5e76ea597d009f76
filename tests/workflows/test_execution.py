"""Executing actions: the claim, the attempt written before the call, outcomes, retries with
backoff, permanent failures, unknown outcomes, shadow mode, and the checks made just before
the call (the agent still active, the approval still binding). Connectors talk to a real
local HTTP server."""

import json
import threading
import time
from datetime import timedelta

import psycopg
import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from werkzeug import Response

from agents import services as agent_services
from governance import policies
from governance.models import AuditEntry
from governance.redaction import fingerprint
from tests.conftest import requires_postgres
from tests.factories import make_world
from tests.workflows.factories import API_TOKEN, make_action, make_action_type, make_connector
from workflows import execution
from workflows.models import (
    ActionRequest,
    ActionState,
    ConnectorAttempt,
    Escalation,
    Queue,
    SandboxEffect,
)

IBAN = "DE44500105175407324931"


def verbs(action) -> list[str]:
    entries = AuditEntry.objects.filter(object_id=str(action.pk)).order_by("id")
    return list(entries.values_list("verb", flat=True))


def fresh(action) -> ActionRequest:
    return ActionRequest.objects.get(pk=action.pk)


def executing(action, outcome: list) -> threading.Thread:
    """A started thread executing `action` on a connection of its own; its result is
    appended to `outcome`."""

    def worker():
        try:
            outcome.append(execution.execute(action.pk))
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    return thread


@pytest.fixture
def erp(world, httpserver):
    """An http connector to the test server (max 3 attempts) and an action type on it whose
    failures go to a queue of unit A."""
    connector = make_connector(
        "http",
        config={"url": httpserver.url_for("/orders"), "allow_private_hosts": True},
        secrets={"headers": {"Authorization": API_TOKEN}},
        max_attempts=3,
    )
    queue = Queue.objects.create(slug="erp-failures", name="ERP", business_unit=world.unit_a)
    return make_action_type(connector=connector, sensitive_fields=["iban"], approval_queue=queue)


def order(world, action_type, **fields) -> ActionRequest:
    return make_action(
        world.agent_a, action_type, {"amount": 120, "supplier": "ACME", "iban": IBAN}, **fields
    )


# Success and exactly once


def test_an_allowed_action_is_executed_once_and_recorded(world, erp, httpserver):
    httpserver.expect_request("/orders", method="POST").respond_with_json({"erp_id": 7})
    action = order(world, erp)

    assert execution.execute(action.pk) == ActionState.SUCCEEDED

    action = fresh(action)
    assert (action.state, action.result, action.error) == (ActionState.SUCCEEDED, {"erp_id": 7}, "")
    assert action.claimed_at is not None and action.completed_at is not None
    [attempt] = action.attempts.all()
    assert (attempt.number, attempt.outcome, attempt.status_code) == (1, "succeeded", 200)
    assert attempt.idempotency_key == str(action.pk)
    assert attempt.target == f"POST {httpserver.url_for('/orders')}"
    assert attempt.finished_at >= attempt.started_at
    assert verbs(action) == ["action.executed"]
    assert len(httpserver.log) == 1


def test_a_second_run_of_the_same_action_does_nothing(world, erp, httpserver):
    httpserver.expect_request("/orders").respond_with_json({})
    action = order(world, erp)
    execution.execute(action.pk)

    assert execution.execute(action.pk) == ""
    assert len(httpserver.log) == 1
    assert fresh(action).attempts.count() == 1


@pytest.mark.parametrize(
    "state", [ActionState.PENDING_APPROVAL, ActionState.DENIED, ActionState.CANCELLED]
)
def test_only_queued_actions_are_executed(world, erp, httpserver, state):
    action = order(world, erp, state=state)
    assert execution.execute(action.pk) == ""
    assert fresh(action).state == state
    assert httpserver.log == []


def test_the_ledger_records_the_outcome_without_sensitive_values(world, erp, httpserver):
    httpserver.expect_request("/orders").respond_with_json({"ok": True})
    action = order(world, erp)
    execution.execute(action.pk)

    entry = AuditEntry.objects.get(object_id=str(action.pk), verb="action.executed")
    assert entry.data["connector"] == erp.connector.slug
    assert entry.data["status_code"] == 200
    assert entry.business_unit_id == world.unit_a.pk
    everything = json.dumps(list(AuditEntry.objects.values("data")))
    assert IBAN not in everything
    assert API_TOKEN not in everything


@pytest.mark.django_db(transaction=True)
def test_the_attempt_is_committed_before_the_call_and_completed_after_it(httpserver):
    world = make_world()
    connector = make_connector(
        "http", config={"url": httpserver.url_for("/orders"), "allow_private_hosts": True}
    )
    action = make_action(world.agent_a, make_action_type(connector=connector))
    seen = {}

    def handler(request):
        # Another connection, as a person or a sweeper would look during the call.
        attempt = ConnectorAttempt.objects.filter(action_id=action.pk).values().first()
        seen.update(attempt or {}, state=ActionRequest.objects.get(pk=action.pk).state)
        connection.close()
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/orders").respond_with_handler(handler)
    execution.execute(action.pk)

    assert (seen["outcome"], seen["finished_at"], seen["state"]) == ("started", None, "executing")
    attempt = ConnectorAttempt.objects.get(action=action)
    assert attempt.outcome == "succeeded" and attempt.finished_at is not None


# Several actions of one message, claimed together


def sandbox_actions(world, count: int) -> list[ActionRequest]:
    """`count` queued sandbox actions, of agent A and agent B in turn."""
    action_type = make_action_type()
    agents = [world.agent_a, world.agent_b]
    return [make_action(agents[n % 2], action_type, {"amount": n + 1}) for n in range(count)]


def statements(run) -> int:
    with CaptureQueriesContext(connection) as queries:
        run()
    return len(queries)


def test_actions_claimed_together_are_each_executed_once_and_recorded(world):
    actions = sandbox_actions(world, 5)
    ids = [action.pk for action in actions]

    assert execution.execute_many(ids) == [ActionState.SUCCEEDED] * 5
    assert execution.execute_many(ids) == [""] * 5  # a repeated message does nothing

    for action in map(fresh, actions):
        assert (action.state, action.attempt_count) == (ActionState.SUCCEEDED, 1)
        effect = SandboxEffect.objects.get(action_id=action.pk)
        assert action.result == {"sandbox_effect_id": effect.pk}
        assert effect.agent_slug == action.agent.slug
        [attempt] = action.attempts.all()
        assert (attempt.outcome, attempt.idempotency_key) == ("succeeded", str(action.pk))
        assert verbs(action) == ["action.executed"]


@requires_postgres
def test_actions_claimed_together_cost_one_statement_each_beyond_the_first(world):
    first, one, five = (
        sandbox_actions(world, 1),
        sandbox_actions(world, 1),
        sandbox_actions(world, 5),
    )
    execution.execute_many([first[0].pk])  # reads the catalogue of action types
    alone = statements(lambda: execution.execute_many([one[0].pk]))
    together = statements(lambda: execution.execute_many([action.pk for action in five]))
    # Locking the agents, the claim and the settling statement are shared; each action
    # adds only its sandbox effect's INSERT.
    assert together == alone + 4


def test_a_mixed_message_executes_each_action_by_its_own_state_and_connector(
    world, erp, httpserver
):
    httpserver.expect_request("/orders").respond_with_json({"erp_id": 9})
    [quick] = sandbox_actions(world, 1)
    external = order(world, erp)
    waiting = order(world, erp, state=ActionState.PENDING_APPROVAL)
    # Suspending cancels the agent's queued actions; this one was recorded just after (the
    # gateway had checked the agent before the suspension committed).
    agent_services.transition(world.coe, world.agent_b, "suspend", "Misbehaving")
    of_suspended = make_action(world.agent_b, make_action_type(name="crm.note.add"))

    ids = [action.pk for action in (quick, external, waiting, of_suspended)]
    assert execution.execute_many(ids) == [
        ActionState.SUCCEEDED,
        ActionState.SUCCEEDED,
        "",
        ActionState.CANCELLED,
    ]
    assert fresh(external).result == {"erp_id": 9}
    assert len(httpserver.log) == 1
    assert fresh(waiting).state == ActionState.PENDING_APPROVAL
    assert not SandboxEffect.objects.filter(action_id=of_suspended.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_a_messages_calls_to_a_system_of_record_are_each_claimed_just_before_the_call(
    httpserver,
):
    world = make_world()
    connector = make_connector(
        "http", config={"url": httpserver.url_for("/orders"), "allow_private_hosts": True}
    )
    action_type = make_action_type(connector=connector)
    first, second = (make_action(world.agent_a, action_type) for _ in range(2))
    [quick] = sandbox_actions(world, 1)
    seen = []

    def handler(request):
        # Another connection, as the sweeper would look if this worker died now.
        states = ActionRequest.objects.in_bulk([first.pk, second.pk, quick.pk])
        seen.append({pk: action.state for pk, action in states.items()})
        connection.close()
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/orders").respond_with_handler(handler)
    states = execution.execute_many([first.pk, second.pk, quick.pk])

    assert states == [ActionState.SUCCEEDED] * 3
    # The sandbox's action had committed before any call; the second call's action was
    # still queued, not claimed, while the first call ran.
    assert seen == [
        {first.pk: "executing", second.pk: "queued", quick.pk: "succeeded"},
        {first.pk: "succeeded", second.pk: "executing", quick.pk: "succeeded"},
    ]


@requires_postgres
def test_statements_prepared_on_a_connection_survive_a_migration_adding_columns(
    transactional_db, world, caplog
):
    # The executor's claim and its read of the agents name their columns: a deploy may add
    # a column while this process runs, and PostgreSQL then plans them again ("*" would
    # fail with "cached plan must not change result type" until the connection closed).
    for _ in range(6):
        execution.execute_many([action.pk for action in sandbox_actions(world, 2)])
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = " ".join(row[0] for row in cursor.fetchall())
    assert 'UPDATE "workflows_actionrequest" SET "state"' in prepared
    assert 'JOIN "agents_agent" a' in prepared
    params = connection.get_connection_params()
    dsn = {key: params[key] for key in ("dbname", "user", "host", "port") if params.get(key)}
    tables = ("workflows_actionrequest", "agents_agent")
    with psycopg.connect(**dsn, autocommit=True) as deploy:
        for table in tables:
            deploy.execute(f'ALTER TABLE "{table}" ADD COLUMN "added_later" text')
        try:
            later = sandbox_actions(world, 2)
            states = execution.execute_many([action.pk for action in later])
        finally:
            for table in tables:
                deploy.execute(f'ALTER TABLE "{table}" DROP COLUMN "added_later"')
    assert states == [ActionState.SUCCEEDED, ActionState.SUCCEEDED]
    assert "together failed" not in caplog.text  # not rescued by executing each alone


def refuse_sandbox_effects_of(action) -> None:
    """A trigger in the database that fails any INSERT of `action`'s sandbox effect."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION refuse_effect() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.action_id = '{action.pk}' THEN RAISE EXCEPTION 'refused'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON workflows_sandboxeffect "
                "FOR EACH ROW EXECUTE FUNCTION refuse_effect()"
            )
        else:
            cursor.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON workflows_sandboxeffect "
                f"WHEN NEW.action_id = '{action.pk.hex}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )


def test_an_action_that_fails_the_shared_transaction_holds_back_no_other(world, caplog):
    actions = sandbox_actions(world, 4)
    refuse_sandbox_effects_of(actions[1])

    states = execution.execute_many([action.pk for action in actions])

    assert states == [ActionState.SUCCEEDED, "", ActionState.SUCCEEDED, ActionState.SUCCEEDED]
    refused = fresh(actions[1])
    assert (refused.state, refused.attempt_count) == (ActionState.QUEUED, 0)
    assert not refused.attempts.exists() and verbs(refused) == []
    assert SandboxEffect.objects.count() == 3
    assert f"Could not execute action {actions[1].pk}" in caplog.text


# Temporary errors: retries with backoff, bounded


def test_a_temporary_error_queues_the_action_again_with_backoff(world, erp, httpserver):
    httpserver.expect_request("/orders").respond_with_data("busy", status=503)
    action = order(world, erp)
    before = timezone.now()

    assert execution.execute(action.pk) == ActionState.QUEUED

    action = fresh(action)
    assert action.attempt_count == 1
    wait = (action.next_attempt_at - before).total_seconds()
    assert execution.BACKOFF_BASE_SECONDS <= wait < execution.BACKOFF_BASE_SECONDS + 2
    assert "503" in action.error
    assert action.attempts.get().outcome == "temporary_error"
    assert verbs(action) == ["action.retry_scheduled"]
    assert execution.execute(action.pk) == ""  # not due yet
    assert len(httpserver.log) == 1


def test_backoff_doubles_up_to_a_cap():
    waits = [execution.backoff_seconds(n) for n in range(1, 10)]
    assert waits[:4] == [5, 10, 20, 40]
    assert max(waits) == execution.BACKOFF_MAX_SECONDS


def test_retries_stop_at_the_connectors_max_attempts_then_fail_and_escalate(world, erp, httpserver):
    httpserver.expect_request("/orders").respond_with_data("busy", status=503)
    action = order(world, erp)
    later = timezone.now()
    outcomes = []
    for _ in range(3):
        outcomes.append(execution.execute(action.pk, now=later))
        later += timedelta(minutes=15)

    assert outcomes == [ActionState.QUEUED, ActionState.QUEUED, ActionState.FAILED]
    action = fresh(action)
    assert action.error.startswith("Gave up after 3 attempts")
    assert len(httpserver.log) == 3
    assert list(action.attempts.values_list("number", "outcome")) == [
        (1, "temporary_error"),
        (2, "temporary_error"),
        (3, "temporary_error"),
    ]
    escalation = Escalation.objects.get(action=action)
    assert (escalation.kind, escalation.queue.slug) == ("failure", "erp-failures")
    assert verbs(action) == ["action.retry_scheduled", "action.retry_scheduled", "action.failed"]


def test_a_retry_that_succeeds_settles_the_action(world, erp, httpserver):
    httpserver.expect_oneshot_request("/orders").respond_with_data("busy", status=502)
    httpserver.expect_request("/orders").respond_with_json({"erp_id": 9})
    action = order(world, erp)
    execution.execute(action.pk)
    assert execution.execute(action.pk, now=timezone.now() + timedelta(minutes=1)) == "succeeded"
    assert fresh(action).result == {"erp_id": 9}
    assert Escalation.objects.filter(action=action).count() == 0


# Permanent errors


def test_a_permanent_error_fails_escalates_and_disables_the_connector_when_configured(
    world, erp, httpserver
):
    httpserver.expect_request("/orders").respond_with_data("unknown supplier", status=422)
    connector = erp.connector
    connector.disable_on_permanent_error = True
    connector.save()
    action = order(world, erp)

    assert execution.execute(action.pk) == ActionState.FAILED

    action = fresh(action)
    assert "422" in action.error
    assert action.attempts.get().outcome == "permanent_error"
    assert action.attempts.get().response_excerpt == "unknown supplier"
    assert Escalation.objects.get(action=action).kind == "failure"
    connector.refresh_from_db()
    assert not connector.enabled and "422" in connector.disabled_reason
    assert AuditEntry.objects.filter(verb="connector.disabled", object_id=str(connector.pk))

    # The next action on the disabled connector is not sent anywhere.
    second = order(world, erp)
    assert execution.execute(second.pk) == ActionState.FAILED
    second = fresh(second)
    assert "is disabled" in second.error
    assert second.attempts.count() == 0
    assert len(httpserver.log) == 1


def test_a_permanent_error_leaves_the_connector_enabled_unless_configured(world, erp, httpserver):
    httpserver.expect_request("/orders").respond_with_data("", status=400)
    execution.execute(order(world, erp).pk)
    erp.connector.refresh_from_db()
    assert erp.connector.enabled


def test_a_host_refused_by_the_allow_list_fails_without_a_call(world, httpserver):
    connector = make_connector("http", config={"url": httpserver.url_for("/orders")})
    action = order(world, make_action_type(connector=connector))
    assert execution.execute(action.pk) == ActionState.FAILED
    assert fresh(action).error.startswith("Refused:")
    assert httpserver.log == []


# Unknown outcomes


def test_no_answer_after_sending_needs_reconciliation_and_is_never_retried(world, erp, httpserver):
    def slow(request):
        time.sleep(1.0)
        return Response("{}")

    httpserver.expect_request("/orders").respond_with_handler(slow)
    connector = erp.connector
    connector.config["timeout_seconds"] = 0.3
    connector.save()
    action = order(world, erp)

    assert execution.execute(action.pk) == ActionState.NEEDS_RECONCILIATION

    action = fresh(action)
    assert action.error.startswith("Outcome unknown, not retried")
    assert action.attempts.get().outcome == "unknown"
    assert Escalation.objects.get(action=action).kind == "reconciliation"
    assert "action.needs_reconciliation" in verbs(action)
    assert execution.execute(action.pk, now=timezone.now() + timedelta(hours=1)) == ""
    time.sleep(0.8)
    assert len(httpserver.log) == 1


# Secrets


def test_secrets_echoed_by_the_system_of_record_are_blanked_everywhere(world, erp, httpserver):
    def echo(request):
        body = json.dumps({"you_sent": request.headers["Authorization"]})
        return Response(body, status=400, content_type="application/json")

    httpserver.expect_request("/orders").respond_with_handler(echo)
    action = order(world, erp)
    execution.execute(action.pk)

    attempt = ConnectorAttempt.objects.get(action=action)
    assert "[secret]" in attempt.response_excerpt
    stored = json.dumps(
        [
            list(ConnectorAttempt.objects.values()),
            list(ActionRequest.objects.values("error", "result")),
            list(AuditEntry.objects.values("data")),
            list(Escalation.objects.values("reason")),
        ],
        default=str,
    )
    assert API_TOKEN not in stored


def test_a_secret_echoed_in_a_successful_answer_is_blanked_from_the_result(world, erp, httpserver):
    httpserver.expect_request("/orders").respond_with_handler(
        lambda request: Response(
            json.dumps({"auth": request.headers["Authorization"], "id": 3}),
            content_type="application/json",
        )
    )
    action = order(world, erp)
    execution.execute(action.pk)
    assert fresh(action).result == {"auth": "[secret]", "id": 3}


# Shadow mode


def test_a_shadow_action_executes_on_the_sandbox_whatever_its_connector(world, erp, httpserver):
    action = order(world, erp, shadow=True)

    assert execution.execute(action.pk) == ActionState.SUCCEEDED

    assert httpserver.log == []
    effect = SandboxEffect.objects.get(action=action)
    assert effect.payload["iban"] != IBAN
    attempt = action.attempts.get()
    assert (attempt.target, attempt.connector) == ("sandbox", None)
    assert AuditEntry.objects.get(object_id=str(action.pk), verb="action.executed").data["shadow"]


def test_an_action_type_without_a_connector_runs_on_the_sandbox(world):
    action = order(world, make_action_type())
    assert execution.execute(action.pk) == ActionState.SUCCEEDED
    assert fresh(action).result == {"sandbox_effect_id": action.sandbox_effect.pk}


# Checks just before the call


def test_an_action_of_a_suspended_agent_is_cancelled_not_executed(world, erp, httpserver):
    # Suspending cancels the agent's queued actions; this one was recorded just after (the
    # gateway had checked the agent before the suspension committed).
    agent_services.transition(world.coe, world.agent_a, "suspend", "Misbehaving")
    action = order(world, erp)

    assert execution.execute(action.pk) == ActionState.CANCELLED

    action = fresh(action)
    assert action.error == "Not executed: agent agent-a is suspended."
    assert action.attempts.count() == 0
    assert httpserver.log == []
    assert verbs(action) == ["action.cancelled"]


@pytest.fixture
def published(world):
    """A published COE policy; returns its version."""
    policy = policies.create_policy(world.coe, "baseline", "Baseline")
    draft = policy.versions.get()
    policies.add_rule(world.coe, draft, name="all", action_pattern="*", effect="allow")
    return policies.publish(world.coe, draft)


def approved(world, action_type, version, payload=None) -> ActionRequest:
    payload = payload or {"amount": 5000, "supplier": "ACME"}
    return make_action(
        world.agent_a,
        action_type,
        payload,
        approved_at=timezone.now(),
        approved_by=world.supervisor_a,
        approved_payload_hash=fingerprint(payload),
        approved_policy_version_ids=[str(version.pk)],
    )


def test_an_approved_action_runs_while_its_payload_and_policy_are_unchanged(
    world, erp, httpserver, published
):
    httpserver.expect_request("/orders").respond_with_json({})
    action = approved(world, erp, published)
    assert execution.execute(action.pk) == ActionState.SUCCEEDED
    assert len(httpserver.log) == 1


def test_an_approved_action_whose_payload_changed_is_not_executed(
    world, erp, httpserver, published
):
    action = approved(world, erp, published)
    ActionRequest.objects.filter(pk=action.pk).update(payload={"amount": 900000})

    assert execution.execute(action.pk) == ActionState.FAILED

    action = fresh(action)
    assert action.error == "Not executed: the payload changed since approval."
    assert action.attempts.count() == 0
    assert httpserver.log == []
    assert Escalation.objects.get(action=action).kind == "failure"


def test_an_approved_action_whose_policy_changed_is_not_executed(world, erp, httpserver, published):
    action = approved(world, erp, published)
    draft = policies.create_draft(world.coe, published.policy)
    policies.add_rule(world.coe, draft, name="all", action_pattern="*", effect="deny")
    policies.publish(world.coe, draft)

    assert execution.execute(action.pk) == ActionState.FAILED

    action = fresh(action)
    assert "policy changed since approval" in action.error
    assert action.attempts.count() == 0
    assert httpserver.log == []
    assert Escalation.objects.get(action=action).kind == "failure"


def test_an_approved_action_whose_policy_was_archived_is_not_executed(
    world, erp, httpserver, published
):
    action = approved(world, erp, published)
    policies.archive(world.coe, published)
    assert execution.execute(action.pk) == ActionState.FAILED
    assert httpserver.log == []


# Concurrency (PostgreSQL: real row locks between connections)


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_eight_workers_racing_for_one_action_call_the_connector_once(httpserver):
    world = make_world()
    connector = make_connector(
        "http", config={"url": httpserver.url_for("/orders"), "allow_private_hosts": True}
    )
    action = make_action(world.agent_a, make_action_type(connector=connector))
    httpserver.expect_request("/orders").respond_with_json({})
    barrier = threading.Barrier(8)
    results = []

    def worker():
        barrier.wait()
        try:
            results.append(execution.execute(action.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [""] * 7 + [ActionState.SUCCEEDED]
    assert len(httpserver.log) == 1
    assert ConnectorAttempt.objects.filter(action=action).count() == 1


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_call_outliving_its_budget_stays_with_the_person_it_was_handed_to(httpserver):
    world = make_world()
    connector = make_connector(
        "http", config={"url": httpserver.url_for("/orders"), "allow_private_hosts": True}
    )
    action = make_action(world.agent_a, make_action_type(connector=connector))
    arrived, release = threading.Event(), threading.Event()

    def slow(request):
        arrived.set()
        release.wait(5)
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/orders").respond_with_handler(slow)
    outcome = []
    thread = executing(action, outcome)
    assert arrived.wait(5)
    # The sweeper, much later by its clock, takes the call for lost.
    assert execution.sweep(now=timezone.now() + timedelta(hours=1))["reconciliation"] == 1
    release.set()
    thread.join()

    action = fresh(action)
    assert outcome == [ActionState.NEEDS_RECONCILIATION]
    assert action.state == ActionState.NEEDS_RECONCILIATION
    # The person reconciling sees what really happened.
    assert action.attempts.get().outcome == "succeeded"
    assert "action.late_outcome" in verbs(action)
    assert len(httpserver.log) == 1


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_sandbox_effect_commits_with_the_claim_and_the_outcome_or_not_at_all():
    """The sandbox's effect is a row of our database: the claim, the attempt, the effect
    and the outcome commit as one transaction. While the outcome's ledger entry waits for
    a lock, another connection sees none of it (and finds the agent read-locked); once it
    goes through, all of it."""
    from django.db import connections

    world = make_world()
    action = make_action(world.agent_a, make_action_type())
    other = connections.create_connection("default")
    blocker = connections.create_connection("default")
    outcome = []

    def seen() -> tuple:
        with other.cursor() as cursor:
            cursor.execute(
                "SELECT state, attempt_count FROM workflows_actionrequest WHERE id = %s",
                [action.pk],
            )
            row = cursor.fetchone()
            cursor.execute(
                "SELECT (SELECT count(*) FROM workflows_sandboxeffect WHERE action_id = %s),"
                " (SELECT count(*) FROM workflows_connectorattempt WHERE action_id = %s)",
                [action.pk, action.pk],
            )
            return (*row, *cursor.fetchone())

    try:
        blocker.set_autocommit(False)
        with blocker.cursor() as cursor:
            cursor.execute("LOCK TABLE governance_auditentry IN EXCLUSIVE MODE")
        thread = executing(action, outcome)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with other.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted"
                    " AND relation = 'governance_auditentry'::regclass"
                )
                if cursor.fetchone()[0]:
                    break
            time.sleep(0.02)
        else:
            pytest.fail("the execution never reached its ledger entry")
        # Effect written and outcome settled inside the open transaction: none of it shows.
        assert seen() == (ActionState.QUEUED, 0, 0, 0)
        # The agent is read-locked meanwhile: a suspension (FOR UPDATE) would wait for this
        # execution, another execution of the agent's actions (FOR SHARE) would not.
        lock = "SELECT id FROM agents_agent WHERE id = %s FOR {} NOWAIT"
        with other.cursor() as cursor:
            cursor.execute(lock.format("SHARE"), [world.agent_a.pk])
            with pytest.raises(OperationalError, match="could not obtain lock"):
                cursor.execute(lock.format("UPDATE"), [world.agent_a.pk])
        blocker.rollback()
        thread.join(10)
        assert outcome == [ActionState.SUCCEEDED]
        assert seen() == (ActionState.SUCCEEDED, 1, 1, 1)
    finally:
        blocker.rollback()
        blocker.close()
        other.close()
    assert verbs(action)[-1] == "action.executed"
