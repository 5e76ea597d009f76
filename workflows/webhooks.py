"""Signed callbacks to an agent's callback URL when its action reaches a final state.

Each callback is a WebhookDelivery row (the delivery log): created in the transaction that
settles the action, sent after commit by a Celery task, retried by the beat task
`deliver_due_webhooks` with growing delays, then given up as `failed` (recorded in the
ledger). Bodies are signed with the Standard Webhooks scheme using one secret per agent,
derived from SECRET_KEY: `agent_webhook_secret(agent)` is what the agent's owner hands to
the agent so that it can verify them. The `webhook-id` is the delivery id, the same on every
retry: delivery is at least once, and receivers drop repeats by that id.

Callback URLs come from agents, so they get the same host checks as connectors: loopback,
private and link-local addresses are refused unless AUTONOMY_ALLOW_PRIVATE_CALLBACKS.
"""

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from governance import ledger
from governance.redaction import redact
from workflows.connectors.base import ConnectorError
from workflows.connectors.http import send
from workflows.connectors.webhook import signature_headers
from workflows.models import ActionRequest, WebhookDelivery

__all__ = [
    "MAX_ATTEMPTS",
    "RETRY_DELAYS",
    "agent_webhook_secret",
    "deliver",
    "deliver_due",
    "schedule",
]

# Seconds to wait after the 1st, 2nd, ... failed attempt; after the last, give up.
RETRY_DELAYS = (10, 30, 120, 600, 1800, 3600)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# A delivery being sent is not picked up again before this (a worker that died mid-send).
LEASE = timedelta(seconds=60)
CONNECT_TIMEOUT, READ_TIMEOUT = 5.0, 10.0
State = WebhookDelivery.State


def agent_webhook_secret(agent) -> str:
    """The agent's Standard Webhooks signing secret ("whsec_" + base64), stable for this
    installation's SECRET_KEY; its owner gives it to the agent to verify callbacks."""
    raw = hmac.new(
        settings.SECRET_KEY.encode(), f"autonomy-agent-webhook:{agent.pk}".encode(), hashlib.sha256
    ).digest()
    return "whsec_" + base64.b64encode(raw).decode()


def schedule(action: ActionRequest, *, now: datetime | None = None) -> WebhookDelivery | None:
    """In the caller's transaction: a callback about the action's current state, sent after
    commit, if the agent gave a callback URL. Sensitive fields of the result are hashed."""
    if not action.callback_url:
        return None
    now = now or timezone.now()
    event = f"action.{action.state}"
    sensitive = list(action.action_type.sensitive_fields or [])
    body = {
        "type": event,
        "timestamp": now.isoformat(),
        "data": {
            "id": str(action.pk),
            "action": action.action_type.name,
            "state": action.state,
            "shadow": action.shadow,
            "error": action.error,
            "result": redact(action.result, sensitive) if action.result is not None else None,
            "completed_at": action.completed_at.isoformat() if action.completed_at else None,
            "links": {"self": f"/api/v1/actions/{action.pk}/"},
        },
    }
    delivery = WebhookDelivery.objects.create(
        action=action,
        url=action.callback_url,
        event=event,
        body=body,
        created_at=now,
        next_attempt_at=now,
    )
    from workflows.tasks import deliver_webhook

    transaction.on_commit(lambda: deliver_webhook.delay(str(delivery.pk)))
    return delivery


def _post(delivery: WebhookDelivery) -> tuple[int | None, str, bool]:
    """Send once: (status code, error, whether retrying is pointless)."""
    body = json.dumps(delivery.body, separators=(",", ":"), sort_keys=True)
    secret = agent_webhook_secret(delivery.action.agent)
    headers = {
        "Content-Type": "application/json",
        **signature_headers(secret, str(delivery.pk), body),
    }
    try:
        response = send(
            "POST",
            delivery.url,
            body=body.encode(),
            headers=headers,
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            allow_private=settings.AUTONOMY_ALLOW_PRIVATE_CALLBACKS,
        )
    except ConnectorError as exc:
        # A refused URL or host never gets better; anything else may.
        return exc.status_code, exc.message, exc.permanent
    if 200 <= response.status < 300:
        return response.status, "", False
    return response.status, f"The callback URL answered {response.status}.", False


def deliver(delivery_id, *, now: datetime | None = None) -> str:
    """Send one due delivery if this call wins its claim; returns its new state ("" when
    another worker has it or it is not due)."""
    now = now or timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, state__in=(State.PENDING, State.RETRYING), next_attempt_at__lte=now
    ).update(next_attempt_at=now + LEASE, attempt_count=F("attempt_count") + 1)
    if claimed != 1:
        return ""
    delivery = WebhookDelivery.objects.select_related("action__agent").get(pk=delivery_id)
    status, error, hopeless = _post(delivery)
    finished = timezone.now()
    delivery.last_status_code, delivery.last_error = status, error[:1000]
    if not error:
        delivery.state, delivery.delivered_at, delivery.next_attempt_at = (
            State.DELIVERED,
            finished,
            None,
        )
    elif hopeless or delivery.attempt_count >= MAX_ATTEMPTS:
        delivery.state, delivery.next_attempt_at = State.FAILED, None
    else:
        delay = RETRY_DELAYS[delivery.attempt_count - 1]
        delivery.state = State.RETRYING
        delivery.next_attempt_at = finished + timedelta(seconds=delay)
    with transaction.atomic():
        delivery.save(
            update_fields=[
                "state",
                "last_status_code",
                "last_error",
                "delivered_at",
                "next_attempt_at",
            ]
        )
        if delivery.state == State.FAILED:
            action = delivery.action
            ledger.record(
                "webhook.failed",
                ledger.Actor.system("webhooks"),
                delivery,
                business_unit_id=action.business_unit_id,
                data={
                    "action_id": str(action.pk),
                    "event": delivery.event,
                    "attempts": delivery.attempt_count,
                    "error": delivery.last_error,
                },
            )
    return delivery.state


def deliver_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Enqueue the deliveries that are due (retries, and first tries whose task was lost);
    each is claimed when sent, so enqueueing one twice sends it once. Returns how many."""
    from workflows.tasks import deliver_webhook

    now = now or timezone.now()
    due = WebhookDelivery.objects.filter(
        state__in=(State.PENDING, State.RETRYING), next_attempt_at__lte=now
    ).order_by("next_attempt_at")
    ids = [str(pk) for pk in due.values_list("pk", flat=True)[:limit]]
    for delivery_id in ids:
        deliver_webhook.delay(delivery_id)
    return len(ids)
