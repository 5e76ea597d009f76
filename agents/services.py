"""State changes of agents and their keys. Each call is one transaction that writes the ledger.

Callers (views, serializers, commands) pass the acting principal; these functions decide
whether that principal may act and raise `NotAllowed` or `InvalidTransition` if not.

Suspending or retiring an agent (`transition`, `suspend_automatically`) calls
agents.hooks.agent_stopped in the same transaction, after the state change and its ledger
entry: workflows cancels the agent's queued and pending actions and ends their open
escalations there, whichever path (API, pages, admin, inbox, a hard limit) stopped it.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from agents import credentials, hooks
from agents.models import Agent, AgentAPIKey, AgentRole, AgentState, AutonomyLevel
from autonomy.core.principals import is_coe
from governance import epochs, ledger
from governance.changes import diff, record_change
from governance.scoping import BUILD, SUPERVISE, has_bu_perm

__all__ = [
    "BUILDER_MAX_LEVEL",
    "ROLE_FIELDS",
    "STOPPED",
    "TRANSITIONS",
    "InvalidTransition",
    "LevelNotAllowed",
    "NotAllowed",
    "coe_level_refusal",
    "create_role",
    "issue_key",
    "level_refusal",
    "may_manage_keys",
    "register_agent",
    "revoke_key",
    "suspend_automatically",
    "transition",
    "update_role",
]


class NotAllowed(Exception):
    """The principal may not do this (views answer 404 or 403, as scope requires)."""


class InvalidTransition(Exception):
    """The agent is not in a state this transition starts from."""


class LevelNotAllowed(Exception):
    """The autonomy level asked for is not the registering person's to grant."""


# Builders register agents at L0-L2; L3 (autonomous) is the COE's to grant.
BUILDER_MAX_LEVEL = AutonomyLevel.L2


def coe_level_refusal(user, role: AgentRole, level: int | None) -> str:
    """Why `user` may not register an agent of `role` at `level` (None: the role's
    default) because only the COE grants it (above BUILDER_MAX_LEVEL), or ""."""
    if is_coe(user):
        return ""
    if level is None and role.default_autonomy_level > BUILDER_MAX_LEVEL:
        default = AutonomyLevel(role.default_autonomy_level).label
        return (
            f"The role's default level is {default}, which only the COE grants: "
            "choose L0-L2; the COE may raise the level after review."
        )
    if level is not None and level > BUILDER_MAX_LEVEL:
        return (
            f"{AutonomyLevel(level).label} is granted by the COE only: register the agent "
            "at L0-L2; the COE may raise the level after review."
        )
    return ""


def level_refusal(user, role: AgentRole, level: int | None) -> str:
    """What the registration form and API tell a builder about the level they ask for:
    coe_level_refusal(), or more than the role's default level; "" when they may."""
    if refusal := coe_level_refusal(user, role, level):
        return refusal
    if not is_coe(user) and level is not None and level > role.default_autonomy_level:
        default = AutonomyLevel(role.default_autonomy_level).label
        return (
            f"Builders may ask for at most the role's level ({default}); "
            "the COE may raise it after review."
        )
    return ""


@dataclass(frozen=True)
class Transition:
    name: str
    sources: tuple[str, ...]
    target: str
    who: str  # "coe", "builder" (builders of the BU, the owner, COE), "supervisor" (+ COE)
    needs_note: bool = False


S = AgentState
TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in [
        Transition("submit", (S.DRAFT,), S.PENDING_REVIEW, "builder"),
        Transition("approve", (S.PENDING_REVIEW,), S.ACTIVE, "coe"),
        Transition("reject", (S.PENDING_REVIEW,), S.DRAFT, "coe", needs_note=True),
        Transition("suspend", (S.ACTIVE,), S.SUSPENDED, "supervisor", needs_note=True),
        Transition("resume", (S.SUSPENDED,), S.ACTIVE, "supervisor"),
        Transition(
            "retire", (S.DRAFT, S.PENDING_REVIEW, S.ACTIVE, S.SUSPENDED), S.RETIRED, "builder"
        ),
    ]
}


# States in which an agent acts no more: entering one runs the `agent_stopped` hook.
STOPPED = (AgentState.SUSPENDED, AgentState.RETIRED)


def _is_builder_of(user, agent_bu_id: int) -> bool:
    return has_bu_perm(user, BUILD, agent_bu_id)


def may(user, transition_name: str, agent: Agent) -> bool:
    """Whether `user` may run this transition on `agent` (ignoring the current state)."""
    t = TRANSITIONS[transition_name]
    if getattr(user, "is_agent", False) or not user.is_authenticated:
        return False
    if is_coe(user):
        return True
    if t.who == "builder":
        return agent.owner_id == user.pk or _is_builder_of(user, agent.business_unit_id)
    if t.who == "supervisor":
        return has_bu_perm(user, SUPERVISE, agent.business_unit_id)
    return False


def available_transitions(user, agent: Agent) -> list[Transition]:
    """The transitions `user` could run on `agent` now, for buttons and API hints."""
    return [
        t for t in TRANSITIONS.values() if agent.state in t.sources and may(user, t.name, agent)
    ]


@transaction.atomic
def register_agent(
    user,
    *,
    slug: str,
    name: str,
    purpose: str,
    business_unit,
    role: AgentRole,
    capabilities: list[str] | None = None,
    autonomy_level: int | None = None,
) -> Agent:
    """A builder registers an agent in one of their business units, at L0-L2 (COE staff at
    any level); it awaits COE review. Raises LevelNotAllowed for a level beyond that."""
    if not (is_coe(user) or _is_builder_of(user, business_unit.pk)):
        raise NotAllowed("You can register agents only in your own business units.")
    if refusal := coe_level_refusal(user, role, autonomy_level):
        raise LevelNotAllowed(refusal)
    agent = Agent.objects.create(
        slug=slug,
        name=name,
        purpose=purpose,
        business_unit=business_unit,
        owner=user,
        role=role,
        capabilities=capabilities or [],
        autonomy_level=role.default_autonomy_level if autonomy_level is None else autonomy_level,
        state=AgentState.PENDING_REVIEW,
        state_changed_at=timezone.now(),
    )
    ledger.record(
        "agent.registered",
        ledger.Actor.of(user),
        agent,
        data={
            "slug": slug,
            "role": role.slug,
            "owner": user.get_username(),
            "autonomy_level": agent.autonomy_level,
            "capabilities": agent.capabilities,
            "state": agent.state,
        },
    )
    return agent


@transaction.atomic
def transition(user, agent: Agent, name: str, note: str = "", *, now=None) -> Agent:
    """Move `agent` along its lifecycle; the row is locked so concurrent moves serialize.
    Suspending or retiring it also ends its queued and pending actions (`agent_stopped`);
    the returned agent's `actions_cancelled` says how many (0 for other transitions)."""
    if name not in TRANSITIONS:
        raise InvalidTransition(f"Unknown transition {name!r}.")
    t = TRANSITIONS[name]
    locked = Agent.objects.select_for_update().get(pk=agent.pk)
    if not may(user, name, locked):
        raise NotAllowed(f"You may not {name} this agent.")
    if locked.state not in t.sources:
        raise InvalidTransition(
            f"Cannot {name} an agent that is {locked.get_state_display().lower()}; "
            f"{name} applies to: {', '.join(AgentState(s).label.lower() for s in t.sources)}."
        )
    note = (note or "").strip()
    if t.needs_note and not note:
        raise InvalidTransition(f"A note is required to {name} an agent.")
    before = locked.state
    locked.state = t.target
    locked.state_changed_at = now or timezone.now()
    locked.save(update_fields=["state", "state_changed_at"])
    revoked = 0
    if t.target == AgentState.RETIRED:
        revoked = _revoke_all(locked)
    data = {"from": before, "to": locked.state, "note": note}
    if revoked:
        data["keys_revoked"] = revoked
    ledger.record(f"agent.{name}", ledger.Actor.of(user), locked, data=data)
    locked.actions_cancelled = _stopped(locked, user, name, note) if t.target in STOPPED else 0
    agent.state, agent.state_changed_at = locked.state, locked.state_changed_at
    return locked


@transaction.atomic
def suspend_automatically(agent: Agent, reason: str, *, now=None) -> Agent:
    """The system suspends an active agent (a hard limit set to auto-suspend was reached);
    recorded like a person's suspension, and its queued and pending actions end the same
    way (`agent_stopped`). A no-op for an agent that is not active."""
    locked = Agent.objects.select_for_update().get(pk=agent.pk)
    if locked.state != AgentState.ACTIVE:
        locked.actions_cancelled = 0
        return locked
    actor = ledger.Actor.system("limits")
    locked.state = AgentState.SUSPENDED
    locked.state_changed_at = now or timezone.now()
    locked.save(update_fields=["state", "state_changed_at"])
    ledger.record(
        "agent.suspend",
        actor,
        locked,
        data={"from": AgentState.ACTIVE, "to": AgentState.SUSPENDED, "note": reason},
    )
    locked.actions_cancelled = _stopped(locked, actor, "suspend", reason)
    agent.state, agent.state_changed_at = locked.state, locked.state_changed_at
    return locked


def _stopped(agent: Agent, actor, name: str, note: str) -> int:
    """Run the `agent_stopped` hook for `agent`, just suspended or retired and still locked,
    in the caller's transaction; returns how many actions its handlers cancelled."""
    return hooks.agent_stopped(
        agent=agent, actor=actor, transition=name, note=note, now=agent.state_changed_at
    )


def _revoke_all(agent: Agent) -> int:
    """Revoke every live key of `agent` (the caller records it in its ledger entry)."""
    # update() sends no signal (see agents/signals.py): bump the epoch here.
    epochs.bump_now_and_on_commit(credentials.EPOCH)
    return AgentAPIKey.objects.filter(agent=agent, revoked=False).update(
        revoked=True, revoked_at=timezone.now()
    )


def may_manage_keys(user, agent: Agent) -> bool:
    """Owners, builders of the agent's business unit and COE manage its keys."""
    return may(user, "retire", agent)


@transaction.atomic
def issue_key(
    user, agent: Agent, *, name: str = "", expires_at: datetime | None = None
) -> tuple[AgentAPIKey, str]:
    """Create a key and return it with its secret, which is shown this once only."""
    if user is not None and not may_manage_keys(user, agent):
        raise NotAllowed("You may not manage this agent's keys.")
    if agent.state == AgentState.RETIRED:
        raise InvalidTransition("A retired agent cannot get new keys.")
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidTransition("The expiry must be in the future.")
    actor = ledger.Actor.of(user) if user is not None else ledger.Actor.system("cli")
    key, secret = AgentAPIKey.objects.create_key(
        agent=agent,
        name=(name or f"{agent.slug} key")[:50],
        expiry_date=expires_at,
        created_by=actor.name,
    )
    ledger.record(
        "agent.key_issued",
        actor,
        agent,
        data={
            "key_prefix": key.prefix,
            "name": key.name,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return key, secret


@transaction.atomic
def revoke_key(user, key: AgentAPIKey) -> AgentAPIKey:
    """Revoke a key at once; the very next request with it is refused."""
    agent = key.agent
    if not may_manage_keys(user, agent):
        raise NotAllowed("You may not manage this agent's keys.")
    locked = AgentAPIKey.objects.select_for_update().get(pk=key.pk)
    if locked.revoked:
        raise InvalidTransition("This key is already revoked.")
    locked.revoked = True
    locked.revoked_at = timezone.now()
    locked.save(update_fields=["revoked", "revoked_at"])
    ledger.record(
        "agent.key_revoked",
        ledger.Actor.of(user),
        agent,
        data={"key_prefix": locked.prefix, "name": locked.name},
    )
    return locked


ROLE_FIELDS = [
    "slug",
    "name",
    "description",
    "action_patterns",
    "data_classifications",
    "default_autonomy_level",
    "default_limits",
]


def _snapshot(role: AgentRole) -> dict:
    return {field: getattr(role, field) for field in ROLE_FIELDS}


@transaction.atomic
def create_role(user, **fields) -> AgentRole:
    """Create an agent role (callers check that `user` is COE staff) and record it."""
    role = AgentRole(**fields)
    role.full_clean()
    role.save()
    ledger.record("role.created", ledger.Actor.of(user), role, data=_snapshot(role))
    return role


@transaction.atomic
def update_role(user, role: AgentRole, **fields) -> AgentRole:
    """Change an agent role's definition and record the before and after."""
    locked = AgentRole.objects.select_for_update().get(pk=role.pk)
    before = _snapshot(locked)
    for name, value in fields.items():
        setattr(locked, name, value)
    locked.full_clean()
    locked.save()
    if changed := diff(before, _snapshot(locked)):
        record_change("role.updated", user, locked, changed)
    return locked
