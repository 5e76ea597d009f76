"""The agent registry: roles, agents, credentials and their lifecycle."""
