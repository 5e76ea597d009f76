"""Every route of the project, requested by every persona.

The matrix below names, for each URL pattern, how to request it (method, a concrete path
built from business unit A's objects, a body) and the status each persona must get. A new
route without an entry fails `test_every_route_has_an_entry_in_the_access_matrix`. Every
response a persona gets is also searched for the other business unit's objects: nobody
but COE staff may see them in lists, details, counts or form choices.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from agents.models import AgentAPIKey
from governance import ledger, policies, switches
from governance.models import AuditEntry, KillSwitch, Policy, PolicyVersion
from tests.factories import SYSTEM

PERSONAS = [
    "anonymous",
    "coe",
    "builder_a",
    "supervisor_a",
    "supervisor_b",
    "auditor",
    "agent_a",
    "agent_b",
]
PEOPLE = ["coe", "builder_a", "supervisor_a", "supervisor_b", "auditor"]
AGENTS = ["agent_a", "agent_b"]

# Personas of business unit B; everyone else except COE belongs to (or sees only) unit A.
IN_UNIT_B = {"supervisor_b", "agent_b"}


@dataclass(frozen=True)
class Entry:
    """How to request one route and what each persona must get."""

    path: Callable  # world -> path
    expect: dict  # persona -> status (or a set of acceptable statuses)
    method: str = "get"
    body: Callable | None = None  # world -> body
    json: bool = False
    extra: dict = field(default_factory=dict)


def everyone(status, **overrides):
    return {persona: overrides.get(persona, status) for persona in PERSONAS}


def people(status, **overrides):
    return {persona: overrides.get(persona, status) for persona in PEOPLE}


def page(**people):
    """A page for signed-in people: anonymous and agents (no session) go to the login page."""
    return {"anonymous": 302, "agent_a": 302, "agent_b": 302, **people}


def api(**people):
    """A people-only API route: anonymous 401/403, agents 403 people_only."""
    return {"anonymous": {401, 403}, "agent_a": 403, "agent_b": 403, **people}


def agent_a_key_prefix(world):
    return AgentAPIKey.objects.filter(agent=world.agent_a).first().prefix


def agent_a_action(world):
    """An action request of agent A (created on first use)."""
    from django.utils import timezone

    from workflows.models import ActionRequest, ActionType

    action = ActionRequest.objects.filter(agent=world.agent_a).first()
    if action is None:
        action_type, _ = ActionType.objects.get_or_create(name="erp.purchase_order.create")
        action = ActionRequest.objects.create(
            agent=world.agent_a,
            business_unit=world.unit_a,
            action_type=action_type,
            idempotency_key="matrix",
            request_hash="0",
            payload_hash="0",
            state="denied",
            created_at=timezone.now(),
        )
    return action


def agent_a_decision(world):
    """A recorded what-if decision of agent A."""
    from workflows.decisions import decide_action

    return decide_action(world.agent_a, "erp.purchase_order.create", {}, actor=world.coe).record


def unit_a_policy(world) -> Policy:
    """Policies for the policy routes, made on first use: the COE's and unit B's (published),
    and unit A's with a published v1 and a draft v2, each holding one rule."""
    found = Policy.objects.filter(slug="unit-a-policy").first()
    if found is not None:
        return found
    for slug, unit in (("coe-baseline", None), ("unit-b-policy", world.unit_b)):
        policy = policies.create_policy(SYSTEM, slug, slug.title(), business_unit=unit)
        draft = policy.versions.get()
        effect = "allow" if unit is None else "deny"
        policies.add_rule(SYSTEM, draft, name="po", action_pattern="erp.*", effect=effect)
        policies.publish(SYSTEM, draft)
    policy = policies.create_policy(SYSTEM, "unit-a-policy", "Unit A", business_unit=world.unit_a)
    draft = policy.versions.get()
    policies.add_rule(SYSTEM, draft, name="no po", action_pattern="erp.*", effect="deny")
    policies.publish(SYSTEM, draft)
    policies.create_draft(SYSTEM, policy)
    return policy


def policy_list_path(world) -> str:
    unit_a_policy(world)  # so that the list has something to leak
    return "/api/v1/policies/"


def unit_a_version(world, state: str) -> PolicyVersion:
    return unit_a_policy(world).versions.get(state=state)


def unit_a_draft_rule_path(world) -> str:
    draft = unit_a_version(world, "draft")
    return f"/api/v1/policy-versions/{draft.pk}/rules/{draft.rules.get().pk}/"


def policy_api(allowed, **overrides):
    """A policy change on unit A: builders of A and COE staff may, others of A are 403."""
    return api(
        **{
            "coe": allowed,
            "builder_a": allowed,
            "supervisor_a": 403,
            "supervisor_b": 404,
            "auditor": 403,
            **overrides,
        }
    )


def unit_a_freeze(world) -> KillSwitch:
    """A freeze of unit A engaged by COE staff, made on first use."""
    found = KillSwitch.objects.filter(business_unit=world.unit_a, active=True).first()
    return found or switches.engage_freeze(world.coe, world.unit_a, "matrix")


def unit_a_entry(world) -> int:
    """The first ledger entry of unit A (its creation)."""
    return AuditEntry.objects.filter(business_unit=world.unit_a).order_by("id").first().pk


def auditor_run(world) -> int:
    """A ledger verification requested by the auditor of unit A, made on first use."""
    return ledger.request_verification(world.auditor).pk


def auditors(status):
    """A ledger route: unit A's auditor and COE staff get `status`; other people 404."""
    return page(**people(404, coe=status, auditor=status))


def auditors_api(status):
    """A ledger API route: unit A's auditor and COE staff get `status`; other people 403."""
    return api(**people(403, coe=status, auditor=status))


def unit_a_escalation(world) -> str:
    """An escalation of agent A waiting in unit A's queue, made on first use; its inbox path."""
    import uuid

    from django.utils import timezone

    from governance.redaction import fingerprint
    from workflows import inbox
    from workflows.decisions import decide_action
    from workflows.models import ActionRequest, ActionType, Escalation

    found = Escalation.objects.filter(business_unit=world.unit_a).first()
    if found is None:
        action_type, _ = ActionType.objects.get_or_create(name="erp.purchase_order.create")
        record = decide_action(
            world.agent_a, action_type.name, {}, actor=SYSTEM, source="gateway"
        ).record
        action = ActionRequest.objects.create(
            agent=world.agent_a,
            business_unit=world.unit_a,
            action_type=action_type,
            idempotency_key=uuid.uuid4().hex,
            request_hash=fingerprint({}),
            payload={},
            payload_hash=fingerprint({}),
            decision=record,
            state="pending_approval",
            created_at=timezone.now(),
        )
        found = inbox.open_escalation(action, record, "")
    return f"/workflows/inbox/{found.pk}/"


def unit_a_reconciliation(world) -> str:
    """An escalation of agent A's action whose outcome is unknown (needs reconciliation),
    waiting in unit A's queue, made on first use; its inbox path."""
    from workflows import inbox
    from workflows.models import ActionRequest, Escalation

    found = Escalation.objects.filter(business_unit=world.unit_a, kind="reconciliation").first()
    if found is None:
        action = agent_a_action(world)
        ActionRequest.objects.filter(pk=action.pk).update(state="needs_reconciliation")
        action.refresh_from_db()
        found = inbox.escalate_failure(action, "reconciliation", "Outcome unknown (matrix).")
    return f"/workflows/inbox/{found.pk}/"


def unit_a_escalation_api(world) -> str:
    """The API path of unit A's waiting escalation (see unit_a_escalation); the COE queue
    exists, so that it may be reassigned there."""
    from workflows.queues import coe_queue

    coe_queue()
    return "/api/v1/escalations/" + unit_a_escalation(world).rstrip("/").rsplit("/", 1)[1] + "/"


def unit_a_escalation_id(world) -> str:
    """The id of unit A's waiting escalation (see unit_a_escalation)."""
    return unit_a_escalation(world).rstrip("/").rsplit("/", 1)[1]


def unit_a_queue_api(world) -> str:
    """The API path of unit A's queue (made on first use, under the COE queue)."""
    from workflows.queues import unit_queue

    return f"/api/v1/queues/{unit_queue(world.unit_a).slug}/"


def escalation_api(status, **overrides):
    """An API route of unit A's escalation: unit A's supervisors and COE staff only."""
    return api(**people(404, coe=status, supervisor_a=status, **overrides))


def inbox_workers(status, **overrides):
    """An inbox route of unit A's escalation: unit A's supervisors and COE staff only."""
    return page(**people(404, coe=status, supervisor_a=status, **overrides))


MATRIX: dict[str, Entry] = {
    "home": Entry(lambda w: "/", page(**people(200))),
    "healthz": Entry(lambda w: "/healthz", everyone(200)),
    "readyz": Entry(lambda w: "/readyz", everyone(200)),
    "login": Entry(lambda w: "/accounts/login/", everyone(200, **people(302))),
    "logout": Entry(lambda w: "/accounts/logout/", everyone(302), method="post"),
    "agents:list": Entry(lambda w: "/agents/", page(**people(200))),
    "agents:register": Entry(lambda w: "/agents/register/", page(**people(200))),
    "agents:review": Entry(lambda w: "/agents/review/", page(**people(404, coe=200))),
    "agents:detail": Entry(lambda w: "/agents/agent-a/", page(**people(200, supervisor_b=404))),
    "agents:issue-key": Entry(
        lambda w: "/agents/agent-a/keys/",
        page(coe=200, builder_a=200, supervisor_a=403, supervisor_b=404, auditor=403),
        method="post",
        body=lambda w: {"name": "matrix"},
    ),
    "agents:revoke-key": Entry(
        lambda w: f"/agents/agent-a/keys/{agent_a_key_prefix(w)}/revoke/",
        page(coe=302, builder_a=302, supervisor_a=403, supervisor_b=404, auditor=403),
        method="post",
    ),
    "agents:transition": Entry(
        lambda w: "/agents/agent-a/transitions/suspend/",
        page(coe=302, builder_a=403, supervisor_a=302, supervisor_b=404, auditor=403),
        method="post",
        body=lambda w: {"note": "matrix"},
    ),
    "governance-api:businessunit-list": Entry(
        lambda w: "/api/v1/business-units/", api(**people(200))
    ),
    "governance-api:businessunit-detail": Entry(
        lambda w: "/api/v1/business-units/unit-a/",
        api(**people(200, supervisor_b=404)),
    ),
    "agents-api:me": Entry(
        lambda w: "/api/v1/me/",
        {"anonymous": {401, 403}, **people(403), "agent_a": 200, "agent_b": 200},
    ),
    "agents-api:agentrole-list": Entry(lambda w: "/api/v1/roles/", api(**people(200))),
    "agents-api:agentrole-detail": Entry(
        lambda w: f"/api/v1/roles/{w.role.slug}/", api(**people(200))
    ),
    "agents-api:agent-list": Entry(lambda w: "/api/v1/agents/", api(**people(200))),
    "agents-api:agent-detail": Entry(
        lambda w: "/api/v1/agents/agent-a/", api(**people(200, supervisor_b=404))
    ),
    "agents-api:agent-keys": Entry(
        lambda w: "/api/v1/agents/agent-a/keys/",
        # Anyone who sees the agent sees its keys' prefixes and dates, never a secret.
        api(**people(200, supervisor_b=404)),
    ),
    "agents-api:agent-key-revoke": Entry(
        lambda w: f"/api/v1/agents/agent-a/keys/{agent_a_key_prefix(w)}/revoke/",
        api(coe=200, builder_a=200, supervisor_a=403, supervisor_b=404, auditor=403),
        method="post",
        json=True,
    ),
    "agents-api:agent-submit": Entry(
        lambda w: "/api/v1/agents/agent-a/submit/",
        # Allowed to builders and COE, but agent A is active: 409 invalid_transition.
        api(coe=409, builder_a=409, supervisor_a=403, supervisor_b=404, auditor=403),
        method="post",
        json=True,
    ),
    "agents-api:agent-approve": Entry(
        lambda w: "/api/v1/agents/agent-a/approve/",
        api(coe=409, builder_a=403, supervisor_a=403, supervisor_b=404, auditor=403),
        method="post",
        json=True,
    ),
    "agents-api:agent-reject": Entry(
        lambda w: "/api/v1/agents/agent-a/reject/",
        api(coe=409, builder_a=403, supervisor_a=403, supervisor_b=404, auditor=403),
        method="post",
        json=True,
        body=lambda w: {"note": "matrix"},
    ),
    "agents-api:agent-suspend": Entry(
        lambda w: "/api/v1/agents/agent-a/suspend/",
        api(coe=200, builder_a=403, supervisor_a=200, supervisor_b=404, auditor=403),
        method="post",
        json=True,
        body=lambda w: {"note": "matrix"},
    ),
    "agents-api:agent-resume": Entry(
        lambda w: "/api/v1/agents/agent-a/resume/",
        api(coe=409, builder_a=403, supervisor_a=409, supervisor_b=404, auditor=403),
        method="post",
        json=True,
    ),
    "agents-api:agent-retire": Entry(
        lambda w: "/api/v1/agents/agent-a/retire/",
        api(coe=200, builder_a=200, supervisor_a=403, supervisor_b=404, auditor=403),
        method="post",
        json=True,
    ),
    "governance-api:policy-list": Entry(policy_list_path, api(**people(200))),
    "governance-api:policy-detail": Entry(
        lambda w: f"/api/v1/policies/{unit_a_policy(w).slug}/",
        api(**people(200, supervisor_b=404)),
    ),
    "governance-api:policy-versions": Entry(
        lambda w: f"/api/v1/policies/{unit_a_policy(w).slug}/versions/",
        api(**people(200, supervisor_b=404)),
    ),
    "governance-api:policy-drafts": Entry(
        lambda w: f"/api/v1/policies/{unit_a_policy(w).slug}/drafts/",
        # Allowed to builders and COE, but unit A's policy already has a draft: 409.
        policy_api(409),
        method="post",
        json=True,
    ),
    "governance-api:policyversion-detail": Entry(
        lambda w: f"/api/v1/policy-versions/{unit_a_version(w, 'draft').pk}/",
        api(**people(200, supervisor_b=404)),
    ),
    "governance-api:policyversion-rules": Entry(
        lambda w: f"/api/v1/policy-versions/{unit_a_version(w, 'draft').pk}/rules/",
        policy_api(201),
        method="post",
        json=True,
        body=lambda w: {"name": "matrix", "action_pattern": "erp.*", "effect": "deny"},
    ),
    "governance-api:policyversion-rule": Entry(
        unit_a_draft_rule_path, policy_api(204), method="delete", json=True
    ),
    "governance-api:policyversion-publish": Entry(
        lambda w: f"/api/v1/policy-versions/{unit_a_version(w, 'draft').pk}/publish/",
        policy_api(200),
        method="post",
        json=True,
    ),
    "governance-api:policyversion-request-publication": Entry(
        lambda w: f"/api/v1/policy-versions/{unit_a_version(w, 'draft').pk}/request-publication/",
        policy_api(200),
        method="post",
        json=True,
    ),
    "governance-api:policyversion-archive": Entry(
        lambda w: f"/api/v1/policy-versions/{unit_a_version(w, 'published').pk}/archive/",
        policy_api(200),
        method="post",
        json=True,
    ),
    "governance:switches": Entry(lambda w: "/governance/switches/", page(**people(200))),
    "governance:switch-freeze": Entry(
        lambda w: "/governance/switches/freeze/",
        page(coe=302, builder_a=403, supervisor_a=302, supervisor_b=404, auditor=403),
        method="post",
        body=lambda w: {"business_unit": "unit-a", "reason": "matrix"},
    ),
    "governance:switch-block": Entry(
        lambda w: "/governance/switches/block/",
        page(**people(403, coe=302)),
        method="post",
        body=lambda w: {"action_pattern": "erp.*", "reason": "matrix"},
    ),
    "governance:switch-release": Entry(
        lambda w: f"/governance/switches/{unit_a_freeze(w).pk}/release/",
        # COE staff engaged it: only they release it; unit B does not see it.
        page(coe=302, builder_a=403, supervisor_a=403, supervisor_b=404, auditor=403),
        method="post",
        body=lambda w: {"reason": "matrix"},
    ),
    "governance-api:killswitch-list": Entry(lambda w: "/api/v1/kill-switches/", api(**people(200))),
    "governance-api:killswitch-detail": Entry(
        lambda w: f"/api/v1/kill-switches/{unit_a_freeze(w).pk}/",
        api(**people(200, supervisor_b=404)),
    ),
    "governance-api:killswitch-release": Entry(
        lambda w: f"/api/v1/kill-switches/{unit_a_freeze(w).pk}/release/",
        api(coe=200, builder_a=403, supervisor_a=403, supervisor_b=404, auditor=403),
        method="post",
        json=True,
        body=lambda w: {"reason": "matrix"},
    ),
    # The auditor's ledger: auditors and COE staff only; entries are unit A's.
    "governance:ledger": Entry(lambda w: "/governance/ledger/", auditors(200)),
    "governance:ledger-entry": Entry(
        lambda w: f"/governance/ledger/{unit_a_entry(w)}/", auditors(200)
    ),
    "governance:ledger-export": Entry(lambda w: "/governance/ledger/export/", auditors(200)),
    "governance:ledger-summary": Entry(
        lambda w: "/governance/ledger/summaries/people/", auditors(200)
    ),
    "governance:ledger-summary-csv": Entry(
        lambda w: "/governance/ledger/summaries/agents/csv/", auditors(200)
    ),
    "governance:ledger-verify": Entry(
        lambda w: "/governance/ledger/verify/", auditors(302), method="post"
    ),
    "governance:ledger-verification": Entry(
        lambda w: f"/governance/ledger/verifications/{auditor_run(w)}/", auditors(200)
    ),
    "governance-api:auditentry-list": Entry(lambda w: "/api/v1/ledger/", auditors_api(200)),
    "governance-api:auditentry-detail": Entry(
        lambda w: f"/api/v1/ledger/{unit_a_entry(w)}/", auditors_api(200)
    ),
    "governance-api:auditentry-export": Entry(
        lambda w: "/api/v1/ledger/export/", auditors_api(200)
    ),
    "governance-api:auditentry-verify": Entry(
        lambda w: "/api/v1/ledger/verify/", auditors_api(202), method="post", json=True
    ),
    "governance-api:ledgerverification-detail": Entry(
        lambda w: f"/api/v1/ledger/verifications/{auditor_run(w)}/", auditors_api(200)
    ),
    # The API's description is public; every operation it describes is not.
    "api-schema": Entry(lambda w: "/api/schema/", everyone(200)),
    "api-docs": Entry(lambda w: "/api/docs/", everyone(200)),
    "governance:policy-list": Entry(lambda w: "/governance/policies/", page(**people(200))),
    "governance:policy-detail": Entry(
        lambda w: f"/governance/policies/{unit_a_policy(w).slug}/",
        page(**people(200, supervisor_b=404)),
    ),
    "governance:policy-impact": Entry(
        lambda w: f"/governance/policy-versions/{unit_a_version(w, 'draft').pk}/impact/",
        page(**people(404, coe=200, builder_a=200)),
    ),
    "governance:decision-detail": Entry(
        lambda w: f"/governance/decisions/{agent_a_decision(w).pk}/",
        page(**people(200, supervisor_b=404)),
    ),
    "governance-api:policy-simulate": Entry(
        lambda w: f"/api/v1/policies/{unit_a_policy(w).slug}/simulate/",
        api(**people(403, coe=200, builder_a=200, supervisor_b=404)),
        method="post",
        json=True,
    ),
    # COE staff and builders try actions out; COE staff and supervisors work an inbox.
    "workflows:what-if": Entry(
        lambda w: "/workflows/what-if/", page(**people(404, coe=200, builder_a=200))
    ),
    "workflows:inbox": Entry(
        lambda w: "/workflows/inbox/", page(**people(200, builder_a=404, auditor=404))
    ),
    "workflows:escalation-detail": Entry(unit_a_escalation, inbox_workers(200)),
    "workflows:escalation-claim": Entry(
        lambda w: unit_a_escalation(w) + "claim/", inbox_workers(302), method="post"
    ),
    "workflows:escalation-unclaim": Entry(
        lambda w: unit_a_escalation(w) + "unclaim/", inbox_workers(302), method="post"
    ),
    "workflows:escalation-approve": Entry(
        lambda w: unit_a_escalation(w) + "approve/", inbox_workers(302), method="post"
    ),
    "workflows:escalation-edit": Entry(
        lambda w: unit_a_escalation(w) + "edit/",
        # No policy allows the edited payload: refused with the reasons.
        inbox_workers(400),
        method="post",
        body=lambda w: {"payload": '{"amount": 1}'},
    ),
    "workflows:escalation-reject": Entry(
        lambda w: unit_a_escalation(w) + "reject/",
        inbox_workers(302),
        method="post",
        body=lambda w: {"reason": "matrix"},
    ),
    "workflows:escalation-reassign": Entry(
        lambda w: unit_a_escalation(w) + "reassign/",
        inbox_workers(302),
        method="post",
        body=lambda w: {"queue": "coe-approvals"},
    ),
    "workflows:escalation-reconcile": Entry(
        lambda w: unit_a_reconciliation(w) + "reconcile/",
        inbox_workers(302),
        method="post",
        body=lambda w: {"outcome": "failed", "note": "matrix"},
    ),
    "workflows:escalation-suspend-agent": Entry(
        lambda w: unit_a_escalation(w) + "suspend-agent/",
        inbox_workers(302),
        method="post",
        body=lambda w: {"note": "matrix"},
    ),
    "workflows:inbox-bulk": Entry(
        # Everyone signed in may ask; each row is refused (not_found) outside their queues.
        lambda w: "/workflows/inbox/bulk/",
        page(**people(302)),
        method="post",
        body=lambda w: {"ids": [unit_a_escalation_id(w)], "decision": "approve"},
    ),
    "workflows:inbox-counts": Entry(
        lambda w: "/workflows/inbox/counts/",
        page(**people(404, coe=200, supervisor_a=200, supervisor_b=200)),
    ),
    "workflows:activity": Entry(lambda w: "/workflows/activity/", page(**people(200))),
    "workflows-api:escalation-bulk": Entry(
        lambda w: "/api/v1/escalations/bulk/",
        api(**people(200)),
        method="post",
        json=True,
        body=lambda w: {"ids": [unit_a_escalation_id(w)], "decision": "approve"},
    ),
    "workflows:action-detail": Entry(
        lambda w: f"/workflows/actions/{agent_a_action(w).pk}/",
        page(**people(200, supervisor_b=404)),
    ),
    "workflows-api:escalation-list": Entry(lambda w: "/api/v1/escalations/", api(**people(200))),
    "workflows-api:escalation-detail": Entry(unit_a_escalation_api, escalation_api(200)),
    "workflows-api:escalation-claim": Entry(
        lambda w: unit_a_escalation_api(w) + "claim/", escalation_api(200), method="post"
    ),
    "workflows-api:escalation-unclaim": Entry(
        lambda w: unit_a_escalation_api(w) + "unclaim/", escalation_api(200), method="post"
    ),
    "workflows-api:escalation-approve": Entry(
        lambda w: unit_a_escalation_api(w) + "approve/",
        escalation_api(200),
        method="post",
        json=True,
        body=lambda w: {"note": "matrix"},
    ),
    "workflows-api:escalation-reject": Entry(
        lambda w: unit_a_escalation_api(w) + "reject/",
        escalation_api(200),
        method="post",
        json=True,
        body=lambda w: {"reason": "matrix"},
    ),
    "workflows-api:escalation-reassign": Entry(
        lambda w: unit_a_escalation_api(w) + "reassign/",
        escalation_api(200),
        method="post",
        json=True,
        body=lambda w: {"queue": "coe-approvals"},
    ),
    "workflows-api:queue-list": Entry(
        lambda w: unit_a_queue_api(w) and "/api/v1/queues/", api(**people(200))
    ),
    "workflows-api:queue-detail": Entry(unit_a_queue_api, api(**people(200, supervisor_b=404))),
    "workflows-api:action-list": Entry(
        lambda w: "/api/v1/actions/",
        {"anonymous": {401, 403}, **people(200), "agent_a": 200, "agent_b": 200},
    ),
    "workflows-api:action-list POST": Entry(
        lambda w: "/api/v1/actions/",
        # No action type of that name exists in this world: the agents' answer is a 422.
        {"anonymous": {401, 403}, **people(403), "agent_a": 422, "agent_b": 422},
        method="post",
        json=True,
        body=lambda w: {"action": "erp.nothing.here", "payload": {}},
        extra={"HTTP_IDEMPOTENCY_KEY": "matrix"},
    ),
    "workflows-api:action-detail": Entry(
        lambda w: f"/api/v1/actions/{agent_a_action(w).pk}/",
        {"anonymous": {401, 403}, **people(200, supervisor_b=404), "agent_a": 200, "agent_b": 404},
    ),
    "workflows-api:decide": Entry(
        lambda w: "/api/v1/policies/decide/",
        api(**people(404, coe=200, builder_a=200)),
        method="post",
        json=True,
        body=lambda w: {"agent": "agent-a", "action": "erp.purchase_order.create"},
    ),
}


def _walk(patterns, prefix="", namespace=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = pattern.namespace or ""
            joined = f"{namespace}:{inner}" if namespace and inner else inner or namespace
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), joined)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace else (pattern.name or "")
            yield prefix + str(pattern.pattern), name


def project_routes() -> list[tuple[str, str]]:
    """(pattern, name) of every URL pattern of the project."""
    return list(_walk(get_resolver().url_patterns))


def route_name(key: str) -> str:
    """A matrix key's route: "name", or "name METHOD" for a route's second method."""
    return key.split(" ")[0]


def test_every_route_has_an_entry_in_the_access_matrix():
    named = {route_name(key) for key in MATRIX}
    missing = [
        (pattern, name)
        for pattern, name in project_routes()
        if not pattern.startswith("admin/") and name not in named
    ]
    assert missing == [], "routes without an access-matrix entry"
    stale = named - {name for _, name in project_routes()}
    assert stale == set(), "access-matrix entries for routes that no longer exist"


def client_for(world, persona: str) -> APIClient:
    client = APIClient()
    if persona in AGENTS:
        secret = world.key_a if persona == "agent_a" else world.key_b
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    elif persona != "anonymous":
        client.force_login(getattr(world, persona))
    return client


def foreign_markers(world, persona: str) -> list[bytes]:
    """What a persona must never see: the other business unit's agent and unit."""
    if persona == "coe":
        return []
    if persona in IN_UNIT_B:
        return [b"agent-a", b"unit-a", b"Unit-A"]
    return [b"agent-b", b"unit-b", b"Unit-B"]


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("route", sorted(MATRIX))
def test_each_persona_gets_what_the_matrix_says(world, route, persona):
    entry = MATRIX[route]
    client = client_for(world, persona)
    path = entry.path(world)
    body = entry.body(world) if entry.body else {}
    send = getattr(client, entry.method)
    if entry.method == "get":
        response = send(path, **entry.extra)
    else:
        response = send(path, body, format="json" if entry.json else None, **entry.extra)
    expected = entry.expect[persona]
    allowed = expected if isinstance(expected, set) else {expected}
    assert response.status_code in allowed, f"{persona} {entry.method.upper()} {path}"
    content = b"".join(response) if getattr(response, "streaming", False) else response.content
    for marker in foreign_markers(world, persona):
        assert marker not in content, f"{persona} saw {marker!r} at {path}"
    if path.startswith("/api/") and response.status_code >= 400:
        assert response["Content-Type"].startswith("application/json")
        assert set(response.json()["error"]) >= {"code", "message"}


ADMIN_SAMPLE_OBJECT = {
    "governance/businessunit": lambda w: w.unit_a.pk,
    "agents/agent": lambda w: w.agent_a.pk,
    "agents/agentrole": lambda w: w.role.pk,
    "governance/policy": lambda w: unit_a_policy(w).pk,
    "governance/policyversion": lambda w: unit_a_version(w, "draft").pk,
    "governance/rule": lambda w: unit_a_version(w, "draft").rules.get().pk,
}


def admin_paths(world) -> list[str]:
    """A concrete path for every admin route, objects taken from business unit A."""
    paths = []
    for pattern, _name in project_routes():
        if not pattern.startswith("admin/"):
            continue
        path = "/" + pattern.replace("^", "").replace("$", "")
        model = "/".join(path.split("/")[2:4])
        object_id = ADMIN_SAMPLE_OBJECT.get(model, lambda w: 1)(world)
        path = (
            path.replace("<path:object_id>", str(object_id))
            .replace("<int:version_id>", str(object_id))
            .replace("<int:rule_id>", str(object_id))
            .replace("<str:direction>", "up")
            .replace("<int:user_id>", str(world.builder_a.pk))
            .replace("<id>", "1")
        )
        if path in ("/admin/login/", "/admin/logout/") or "<" in path or "(?P" in path:
            continue  # catch-all and app-index regexes, requested as the app indexes below
        paths.append(path)
    return [*paths, "/admin/governance/", "/admin/agents/"]


@pytest.mark.parametrize("persona", PERSONAS)
def test_only_coe_staff_get_into_the_admin(world, persona):
    client = client_for(world, persona)
    for path in admin_paths(world):
        response = client.get(path)
        if persona == "coe":
            assert response.status_code < 500, path
        else:
            assert response.status_code in (302, 404), f"{persona} got into {path}"
            if response.status_code == 302:
                assert "/admin/login/" in response["Location"], path


def test_the_admin_pages_carry_the_products_name_and_icon(world):
    page = client_for(world, "coe").get("/admin/").content.decode()
    assert "Autonomy OS administration" in page
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page


@pytest.mark.parametrize(
    ("persona", "visible"),
    [("coe", 2), ("builder_a", 1), ("supervisor_a", 1), ("supervisor_b", 1), ("auditor", 1)],
)
def test_counts_include_only_the_personas_own_business_units(world, persona, visible):
    client = client_for(world, persona)
    home = client.get("/")
    assert home.context["agent_counts"]["total"] == visible
    assert client.get("/api/v1/agents/").json()["count"] == visible
    assert client.get("/api/v1/business-units/").json()["count"] == visible
