"""Every saved or deleted agent, key, role or business unit bumps the AGENTS epoch (now, and
again after commit), so that each process's cached keys (agents.credentials) are re-read on
the next request; see governance.epochs.bump_when_changed.
"""

from agents import credentials
from agents.models import Agent, AgentAPIKey, AgentRole
from governance import epochs
from governance.models import BusinessUnit

epochs.bump_when_changed(credentials.EPOCH, Agent, AgentAPIKey, AgentRole, BusinessUnit)
