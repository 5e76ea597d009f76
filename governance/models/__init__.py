"""Governance models: tenancy, the ledger, policies and kill switches."""

from governance.models.ledger import AppendOnlyQuerySet, AuditEntry, LedgerSeal, LedgerVerification
from governance.models.policies import (
    DecisionRecord,
    Effect,
    KillSwitch,
    Policy,
    PolicyVersion,
    Rule,
)
from governance.models.tenancy import BusinessUnit, MemberRole, Membership

__all__ = [
    "AppendOnlyQuerySet",
    "AuditEntry",
    "BusinessUnit",
    "DecisionRecord",
    "Effect",
    "KillSwitch",
    "LedgerSeal",
    "LedgerVerification",
    "MemberRole",
    "Membership",
    "Policy",
    "PolicyVersion",
    "Rule",
]
