"""Action types, connectors, the action gateway, execution and the escalation inbox."""
