"""Workflows models: action types, connectors, action requests and the inbox."""

from workflows.models.action_types import ActionType, RiskTier, validate_payload_schema
from workflows.models.actions import (
    ACTION_TRANSITIONS,
    CLAIM,
    TERMINAL_STATES,
    ActionRequest,
    ActionRequestQuerySet,
    ActionState,
    ActionTransition,
    InvalidActionTransition,
    WebhookDelivery,
)
from workflows.models.connectors import Connector, ConnectorAttempt, SandboxEffect
from workflows.models.inbox import (
    WORK,
    WORK_QUEUE,
    Escalation,
    EscalationKind,
    EscalationQuerySet,
    EscalationState,
    Queue,
    QueueQuerySet,
)

__all__ = [
    "ACTION_TRANSITIONS",
    "CLAIM",
    "TERMINAL_STATES",
    "WORK",
    "WORK_QUEUE",
    "ActionRequest",
    "ActionRequestQuerySet",
    "ActionState",
    "ActionTransition",
    "ActionType",
    "Connector",
    "ConnectorAttempt",
    "Escalation",
    "EscalationKind",
    "EscalationQuerySet",
    "EscalationState",
    "InvalidActionTransition",
    "Queue",
    "QueueQuerySet",
    "RiskTier",
    "SandboxEffect",
    "WebhookDelivery",
    "validate_payload_schema",
]
