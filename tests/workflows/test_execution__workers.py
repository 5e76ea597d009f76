"""Real Celery workers (not eager) executing actions against a real local HTTP server, and
killed with SIGKILL before, during and after the connector call, and inside the shared
transaction of a message of sandbox actions: afterwards the sweeper and another worker
leave no action lost and no effect duplicated.

Workers are `celery -A autonomy worker` processes on this test's PostgreSQL database (the
SQLite test database lives in this process's memory) and Redis. To stop a worker at an
exact point, the test holds a database lock the worker needs next, waits until PostgreSQL
shows it waiting, and kills the worker's whole process group.
"""

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection, transaction
from django.utils import timezone
from werkzeug import Response

from autonomy.celery import app
from tests.conftest import requires_postgres, requires_redis
from tests.factories import make_world
from tests.workflows.factories import make_action, make_action_type, make_connector
from workflows import execution
from workflows.dispatch import enqueue_execution
from workflows.models import (
    ActionRequest,
    ActionState,
    ConnectorAttempt,
    Escalation,
    SandboxEffect,
)
from workflows.tasks import execute_action, execute_actions

pytestmark = [requires_postgres, requires_redis]

ROOT = Path(__file__).resolve().parents[2]
# Long past any claim or call budget: how the sweeper sees a worker that never came back.
MUCH_LATER = timedelta(hours=1)


def shared_database_url() -> str:
    """The URL of the test database this process uses (test_<name>), for the workers."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{credentials}@{host}/{db['NAME']}"


def wait_for(condition, timeout: float = 20.0, what: str = "condition", worker=None):
    """Poll `condition` until it holds; on timeout fail with the worker's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    log = f"\nWorker log:\n{worker.output()}" if worker is not None else ""
    raise AssertionError(f"Timed out waiting for {what}.{log}")


class Worker:
    """One `celery worker` process (solo pool) in its own process group."""

    def __init__(self, name: str, **extra_env: str) -> None:
        self.log = tempfile.NamedTemporaryFile(prefix=f"celery-{name}-", suffix=".log")  # noqa: SIM115 - closed in stop()
        env = {
            **os.environ,
            "DATABASE_URL": shared_database_url(),
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "DJANGO_SETTINGS_MODULE": "autonomy.settings",
            **extra_env,
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                *("-m", "celery", "-A", "autonomy", "worker", "--pool=solo"),
                *("--without-gossip", "--without-mingle", "--without-heartbeat"),
                *("-n", f"{name}@%h", "--loglevel=INFO"),
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(lambda: "ready." in self.output() or self.process.poll() is not None, 30)
        assert self.process.poll() is None, self.output()

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def finished_tasks(self) -> int:
        return self.output().count("succeeded in")

    def kill(self) -> None:
        """SIGKILL the worker and everything it started, as a crash or the OOM killer would."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.fixture
def workers(transactional_db):
    """Start workers on demand; all are stopped before the test database is flushed."""
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False  # this process only sends; the workers execute
    app.control.purge()  # messages left in the broker by earlier tests
    started: list[Worker] = []

    def start(name: str, **extra_env: str) -> Worker:
        worker = Worker(name, **extra_env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
    app.conf.task_always_eager = eager


@pytest.fixture
def world(transactional_db):
    return make_world()


@pytest.fixture
def erp(world, httpserver):
    connector = make_connector(
        "http",
        config={
            "url": httpserver.url_for("/orders"),
            "allow_private_hosts": True,
            "timeout_seconds": 10,
        },
    )
    return make_action_type(connector=connector)


def state_of(action) -> str:
    return ActionRequest.objects.values_list("state", flat=True).get(pk=action.pk)


def waiting_on_a_lock() -> bool:
    """Whether another connection to this database waits for a lock (a blocked worker)."""
    with connection.cursor() as cursor:
        # Statistics views are a snapshot per transaction; the caller may be in one.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0] > 0


def test_a_worker_executes_an_enqueued_action_once_even_if_the_message_comes_twice(
    world, erp, httpserver, workers
):
    httpserver.expect_request("/orders", method="POST").respond_with_json({"erp_id": 1})
    worker = workers("w1")
    action = make_action(world.agent_a, erp)

    enqueue_execution(action.pk)  # after commit; there is no open transaction here
    wait_for(lambda: state_of(action) == ActionState.SUCCEEDED, what="the execution", worker=worker)
    execute_action.delay(str(action.pk))  # a duplicate message, as a redelivery would be
    wait_for(lambda: worker.finished_tasks() == 2, what="the duplicate", worker=worker)

    assert len(httpserver.log) == 1
    assert ConnectorAttempt.objects.filter(action=action).count() == 1
    assert ActionRequest.objects.get(pk=action.pk).result == {"erp_id": 1}


def other_connections() -> set[int]:
    """The server pids of the other client connections to this database (the worker's)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
        return {row[0] for row in cursor.fetchall()}


def test_a_worker_keeps_its_database_connection_and_replaces_one_postgresql_dropped(
    world, erp, httpserver, workers
):
    httpserver.expect_request("/orders", method="POST").respond_with_json({"erp_id": 1})
    # As the Procfile starts it: connections kept between tasks (autonomy/celery.py).
    worker = workers("keeps", CONN_MAX_AGE="60")
    first = make_action(world.agent_a, erp)
    enqueue_execution(first.pk)
    wait_for(lambda: state_of(first) == ActionState.SUCCEEDED, what="the first", worker=worker)
    kept = other_connections()
    assert len(kept) == 1  # the worker's, still open after its task

    later = [make_action(world.agent_a, erp) for _ in range(5)]
    for action in later:
        enqueue_execution(action.pk)
    for action in later:
        wait_for(lambda a=action: state_of(a) == ActionState.SUCCEEDED, worker=worker)
    assert other_connections() == kept  # five more tasks on the same connection

    with connection.cursor() as cursor:  # PostgreSQL restarts, or an admin kills it
        cursor.execute("SELECT pg_terminate_backend(%s)", [next(iter(kept))])
    after_drop = make_action(world.agent_a, erp)
    enqueue_execution(after_drop.pk)
    wait_for(
        lambda: state_of(after_drop) == ActionState.SUCCEEDED, what="the next task", worker=worker
    )
    replaced = other_connections()
    assert len(replaced) == 1 and replaced != kept  # a new connection, and no task lost
    assert len(httpserver.log) == 7


def test_a_worker_killed_before_the_call_loses_nothing_and_calls_once(
    world, erp, httpserver, workers
):
    httpserver.expect_request("/orders").respond_with_json({})
    first = workers("before")
    action = make_action(world.agent_a, erp)

    with transaction.atomic():
        # The worker claims the action, then waits for this lock to record its attempt;
        # the claim and the attempt commit together, so nothing of it is visible yet.
        with connection.cursor() as cursor:
            cursor.execute("LOCK TABLE workflows_connectorattempt IN EXCLUSIVE MODE")
        execute_action.delay(str(action.pk))
        wait_for(waiting_on_a_lock, what="the worker to block before its call", worker=first)
        assert state_of(action) == ActionState.QUEUED
        first.kill()

    assert httpserver.log == []
    assert state_of(action) == ActionState.QUEUED  # the dead worker's claim rolled back
    repaired = execution.sweep(now=timezone.now() + MUCH_LATER)
    assert repaired["reenqueued"] == 1
    second = workers("after-before")
    wait_for(lambda: state_of(action) == ActionState.SUCCEEDED, what="the re-run", worker=second)

    assert len(httpserver.log) == 1
    assert list(
        ConnectorAttempt.objects.filter(action=action).values_list("number", "outcome")
    ) == [(1, "succeeded")]


def test_a_worker_killed_during_the_call_needs_reconciliation_and_is_never_called_again(
    world, erp, httpserver, workers
):
    arrived = threading.Event()

    def slow(request):
        arrived.set()
        time.sleep(1.5)
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/orders").respond_with_handler(slow)
    first = workers("during")
    action = make_action(world.agent_a, erp)

    execute_action.delay(str(action.pk))
    assert arrived.wait(20), first.output()
    first.kill()

    second = workers("after-during")
    execute_action.delay(str(action.pk))  # the lost message, redelivered
    wait_for(lambda: second.finished_tasks() == 1, what="the redelivery", worker=second)
    repaired = execution.sweep(now=timezone.now() + MUCH_LATER)
    time.sleep(1.5)  # the server finishes answering the dead worker

    assert repaired["reconciliation"] == 1
    assert state_of(action) == ActionState.NEEDS_RECONCILIATION
    assert ConnectorAttempt.objects.get(action=action).outcome == "unknown"
    assert Escalation.objects.get(action=action).kind == "reconciliation"
    assert len(httpserver.log) == 1


def test_a_worker_killed_after_the_call_before_recording_it_duplicates_nothing(
    world, erp, httpserver, workers
):
    arrived, answer = threading.Event(), threading.Event()

    def held(request):
        arrived.set()
        answer.wait(20)
        return Response('{"erp_id": 5}', content_type="application/json")

    httpserver.expect_request("/orders").respond_with_handler(held)
    first = workers("after")
    action = make_action(world.agent_a, erp)

    execute_action.delay(str(action.pk))
    assert arrived.wait(20), first.output()
    with transaction.atomic():
        # The answer arrives, but the worker must wait for this row lock to record it.
        ActionRequest.objects.select_for_update().get(pk=action.pk)
        answer.set()
        wait_for(waiting_on_a_lock, what="the worker to block after its call", worker=first)
        first.kill()

    second = workers("after-after")
    execute_action.delay(str(action.pk))  # the lost message, redelivered
    wait_for(lambda: second.finished_tasks() == 1, what="the redelivery", worker=second)
    repaired = execution.sweep(now=timezone.now() + MUCH_LATER)

    assert repaired["reconciliation"] == 1
    assert state_of(action) == ActionState.NEEDS_RECONCILIATION
    assert len(httpserver.log) == 1


def test_a_worker_killed_inside_a_messages_shared_transaction_leaves_all_of_it_queued(
    world, workers
):
    action_type = make_action_type()  # the sandbox: claimed and executed together
    agents = [world.agent_a, world.agent_b]
    actions = [make_action(agents[n % 2], action_type, {"amount": n + 1}) for n in range(4)]
    first = workers("together")

    with transaction.atomic():
        # The worker claims the four and writes their four effects, then waits for this
        # lock to settle them (attempts, states and ledger entries in one statement).
        with connection.cursor() as cursor:
            cursor.execute("LOCK TABLE workflows_connectorattempt IN EXCLUSIVE MODE")
        execute_actions.delay([str(action.pk) for action in actions])
        wait_for(waiting_on_a_lock, what="the worker to block inside its message", worker=first)
        first.kill()

    # Claims and effects rolled back together: nothing happened, nothing to reconcile.
    assert [state_of(action) for action in actions] == [ActionState.QUEUED] * 4
    assert not SandboxEffect.objects.exists() and not ConnectorAttempt.objects.exists()
    assert execution.sweep(now=timezone.now() + MUCH_LATER)["reenqueued"] == 4
    second = workers("after-together")
    for action in actions:
        wait_for(
            lambda a=action: state_of(a) == ActionState.SUCCEEDED, what="the re-run", worker=second
        )

    assert SandboxEffect.objects.count() == 4
    assert (
        sorted(ConnectorAttempt.objects.values_list("number", "outcome")) == [(1, "succeeded")] * 4
    )
