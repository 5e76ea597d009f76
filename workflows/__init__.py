"""Action types, connectors, the action gateway, the escalation inbox and workflow templates."""
