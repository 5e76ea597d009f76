"""Workflows models: action types, connectors, action requests and the inbox."""

from workflows.models.action_types import ActionType, RiskTier, validate_payload_schema
from workflows.models.actions import (
    TERMINAL_STATES,
    ActionRequest,
    ActionRequestQuerySet,
    ActionState,
    WebhookDelivery,
)
from workflows.models.connectors import Connector, ConnectorAttempt, SandboxEffect
from workflows.models.inbox import (
    WORK,
    WORK_QUEUE,
    Escalation,
    EscalationQuerySet,
    EscalationState,
    Queue,
    QueueQuerySet,
)

__all__ = [
    "TERMINAL_STATES",
    "WORK",
    "WORK_QUEUE",
    "ActionRequest",
    "ActionRequestQuerySet",
    "ActionState",
    "ActionType",
    "Connector",
    "ConnectorAttempt",
    "Escalation",
    "EscalationQuerySet",
    "EscalationState",
    "Queue",
    "QueueQuerySet",
    "RiskTier",
    "SandboxEffect",
    "WebhookDelivery",
    "validate_payload_schema",
]
