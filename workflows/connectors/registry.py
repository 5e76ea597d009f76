"""Which connector kind executes an action."""

from workflows.connectors.base import BaseConnector
from workflows.connectors.email import EmailConnector
from workflows.connectors.http import HttpConnector
from workflows.connectors.sandbox import SandboxConnector
from workflows.connectors.webhook import WebhookConnector
from workflows.models import Connector

__all__ = ["KINDS", "connector_class_for", "connector_for", "kind_class"]

KINDS: dict[str, type[BaseConnector]] = {
    Connector.Kind.HTTP: HttpConnector,
    Connector.Kind.WEBHOOK: WebhookConnector,
    Connector.Kind.EMAIL: EmailConnector,
    Connector.Kind.SANDBOX: SandboxConnector,
}


def kind_class(kind: str) -> type[BaseConnector]:
    """The class of a connector kind (KeyError for an unknown kind)."""
    return KINDS[kind]


def connector_class_for(action_type, shadow: bool) -> type[BaseConnector]:
    """The kind of connector that executes an action of `action_type`: the sandbox for
    shadow actions (whatever the action type's connector) and for action types without
    one; otherwise its connector's kind."""
    row = action_type.connector
    return SandboxConnector if shadow or row is None else kind_class(row.kind)


def connector_for(action) -> BaseConnector:
    """What executes `action` (see connector_class_for), with its connector row."""
    row = action.action_type.connector
    kind = connector_class_for(action.action_type, action.shadow)
    if kind is SandboxConnector:
        return SandboxConnector(row if row is not None and row.kind == "sandbox" else None)
    return kind(row)
