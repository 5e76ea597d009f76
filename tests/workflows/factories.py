"""Test data for execution: action types, connectors and action requests made with the ORM,
in the state the gateway (or an approval) leaves them in."""

import uuid

from django.utils import timezone

from governance.redaction import fingerprint
from workflows.models import ActionRequest, ActionState, ActionType, Connector

WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
API_TOKEN = "Bearer s3cr3t-token-never-shown"


def make_connector(kind: str = "http", slug: str = "", **fields) -> Connector:
    """A connector (a fresh slug unless given); `http` and `webhook` ones allow the
    loopback test server unless their config says otherwise."""
    slug = slug or f"{kind}-{uuid.uuid4().hex[:8]}"
    defaults = {"name": slug.upper(), "config": {}, "secrets": {}}
    if kind in ("http", "webhook"):
        defaults["config"] = {"allow_private_hosts": True, "timeout_seconds": 2}
    return Connector.objects.create(kind=kind, slug=slug, **{**defaults, **fields})


def make_action_type(name: str = "", connector: Connector | None = None, **fields) -> ActionType:
    """An action type (a fresh erp.* name unless given) on `connector` (None: the sandbox)."""
    name = name or f"erp.order_{uuid.uuid4().hex[:8]}.create"
    return ActionType.objects.create(name=name, connector=connector, **fields)


def make_action(
    agent,
    action_type: ActionType,
    payload: dict | None = None,
    *,
    state: str = ActionState.QUEUED,
    **fields,
) -> ActionRequest:
    """An action request as the gateway records an allowed one (queued), or in `state`."""
    payload = {"amount": 120, "supplier": "ACME"} if payload is None else payload
    now = timezone.now()
    return ActionRequest.objects.create(
        agent=agent,
        business_unit_id=agent.business_unit_id,
        action_type=action_type,
        idempotency_key=uuid.uuid4().hex,
        request_hash=fingerprint({"action": action_type.name, "payload": payload}),
        payload=payload,
        payload_hash=fingerprint(payload),
        state=state,
        created_at=fields.pop("created_at", now),
        queued_at=fields.pop("queued_at", now if state == ActionState.QUEUED else None),
        **fields,
    )
