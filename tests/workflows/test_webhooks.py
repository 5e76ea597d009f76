"""Signed callbacks to the agent's callback URL on final states: the per-agent secret, the
Standard Webhooks signature, retries with backoff, giving up, and refused hosts."""

import base64
from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from agents import services as agent_services
from governance.models import AuditEntry
from tests.workflows.factories import make_action, make_action_type
from workflows import execution, webhooks
from workflows.models import ActionState, WebhookDelivery


@pytest.fixture
def after_commit(django_capture_on_commit_callbacks):
    """Run what a commit starts in this process, Celery tasks included (eagerly)."""
    from autonomy.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield django_capture_on_commit_callbacks
    app.conf.task_always_eager = eager


@pytest.fixture
def private_callbacks(settings):
    """The test server listens on loopback, which callbacks may reach only when allowed."""
    settings.AUTONOMY_ALLOW_PRIVATE_CALLBACKS = True


def executed(world, httpserver, path="/callback"):
    """A sandbox action with a callback URL, executed (its callback not yet sent)."""
    action = make_action(world.agent_a, make_action_type(), callback_url=httpserver.url_for(path))
    execution.execute(action.pk)
    return action


def test_each_agent_has_a_stable_standard_webhooks_secret_of_its_own(world):
    secret = webhooks.agent_webhook_secret(world.agent_a)
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert webhooks.agent_webhook_secret(world.agent_a) == secret
    assert webhooks.agent_webhook_secret(world.agent_b) != secret


def test_a_final_state_sends_one_callback_the_agent_can_verify(
    world, httpserver, after_commit, private_callbacks
):
    httpserver.expect_request("/callback", method="POST").respond_with_data("", status=204)
    action = make_action(
        world.agent_a, make_action_type(), callback_url=httpserver.url_for("/callback")
    )

    with after_commit(execute=True):
        execution.execute(action.pk)

    [delivery] = WebhookDelivery.objects.filter(action=action)
    assert (delivery.state, delivery.attempt_count, delivery.last_status_code) == (
        "delivered",
        1,
        204,
    )
    assert delivery.event == "action.succeeded"
    [(request, _)] = httpserver.log
    secret = webhooks.agent_webhook_secret(world.agent_a)
    body = Webhook(secret).verify(request.get_data(as_text=True), dict(request.headers))
    assert body["type"] == "action.succeeded"
    assert body["data"]["id"] == str(action.pk)
    assert body["data"]["state"] == ActionState.SUCCEEDED
    assert request.headers["webhook-id"] == str(delivery.pk)
    other = Webhook(webhooks.agent_webhook_secret(world.agent_b))
    with pytest.raises(Exception, match="No matching signature"):
        other.verify(request.get_data(as_text=True), dict(request.headers))


def test_an_action_without_a_callback_url_sends_none(world):
    action = make_action(world.agent_a, make_action_type())
    execution.execute(action.pk)
    assert not WebhookDelivery.objects.filter(action=action).exists()


def test_a_cancelled_action_is_told_too(world, httpserver):
    action = make_action(
        world.agent_a, make_action_type(), callback_url=httpserver.url_for("/callback")
    )
    agent_services.transition(world.coe, world.agent_a, "suspend", "Stop")
    execution.execute(action.pk)
    assert WebhookDelivery.objects.get(action=action).event == "action.cancelled"


def test_a_failed_callback_is_retried_with_backoff_until_it_is_delivered(
    world, httpserver, after_commit, private_callbacks
):
    httpserver.expect_oneshot_request("/callback").respond_with_data("down", status=503)
    httpserver.expect_request("/callback").respond_with_data("ok")
    action = executed(world, httpserver)
    delivery = WebhookDelivery.objects.get(action=action)

    assert webhooks.deliver(delivery.pk) == "retrying"
    delivery.refresh_from_db()
    assert (delivery.attempt_count, delivery.last_status_code) == (1, 503)
    wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
    assert webhooks.RETRY_DELAYS[0] - 2 < wait <= webhooks.RETRY_DELAYS[0]
    assert webhooks.deliver(delivery.pk) == ""  # not due yet
    assert webhooks.deliver_due() == 0

    # Time passes: the retry falls due, and the beat task sends it.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    with after_commit(execute=True):
        assert webhooks.deliver_due() == 1

    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempt_count) == ("delivered", 2)
    assert len(httpserver.log) == 2
    # Both tries carried the same id, so the agent can drop a repeat.
    assert {request.headers["webhook-id"] for request, _ in httpserver.log} == {str(delivery.pk)}


def test_a_callback_is_given_up_after_its_last_retry_and_recorded(
    world, httpserver, private_callbacks
):
    httpserver.expect_request("/callback").respond_with_data("gone", status=500)
    action = executed(world, httpserver)
    delivery = WebhookDelivery.objects.get(action=action)
    later = timezone.now()
    states = []
    for _ in range(webhooks.MAX_ATTEMPTS):
        states.append(webhooks.deliver(delivery.pk, now=later))
        later += timedelta(hours=2)

    assert states == ["retrying"] * (webhooks.MAX_ATTEMPTS - 1) + ["failed"]
    assert webhooks.deliver(delivery.pk, now=later) == ""
    assert len(httpserver.log) == webhooks.MAX_ATTEMPTS
    entry = AuditEntry.objects.get(verb="webhook.failed")
    assert entry.data["action_id"] == str(action.pk)
    assert entry.business_unit_id == world.unit_a.pk


def test_a_callback_to_a_loopback_address_is_refused_unless_allowed(world, httpserver, settings):
    settings.AUTONOMY_ALLOW_PRIVATE_CALLBACKS = False
    action = executed(world, httpserver)
    delivery = WebhookDelivery.objects.get(action=action)

    assert webhooks.deliver(delivery.pk) == "failed"

    delivery.refresh_from_db()
    assert delivery.last_error.startswith("Refused:")
    assert httpserver.log == []
