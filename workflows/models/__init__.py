"""Workflows models: action types, connectors, action requests and the inbox."""

from workflows.models.action_types import ActionType, RiskTier, validate_payload_schema
from workflows.models.actions import (
    ACTION_TRANSITIONS,
    CLAIM,
    TERMINAL_STATES,
    ActionRequest,
    ActionState,
    ActionTransition,
    InvalidActionTransition,
    WebhookDelivery,
)
from workflows.models.connectors import Connector, ConnectorAttempt, SandboxEffect
from workflows.models.inbox import Escalation, EscalationKind, EscalationState, Queue

__all__ = [
    "ACTION_TRANSITIONS",
    "CLAIM",
    "TERMINAL_STATES",
    "ActionRequest",
    "ActionState",
    "ActionTransition",
    "ActionType",
    "Connector",
    "ConnectorAttempt",
    "Escalation",
    "EscalationKind",
    "EscalationState",
    "InvalidActionTransition",
    "Queue",
    "RiskTier",
    "SandboxEffect",
    "WebhookDelivery",
    "validate_payload_schema",
]
