"""Connectors to systems of record: one class per kind, each with `execute()`."""

from workflows.connectors.base import BaseConnector, ConnectorError, Result
from workflows.connectors.registry import connector_class_for, connector_for, kind_class

__all__ = [
    "BaseConnector",
    "ConnectorError",
    "Result",
    "connector_class_for",
    "connector_for",
    "kind_class",
]
