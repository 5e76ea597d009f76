"""What the COE reads before approving an agent: its role's grants, the riskiest action
types those grants reach, its owner, and, for an agent that already ran at L0 (shadow),
what it did there.

Action types belong to workflows, above this app (imports point down), so the app that
owns them registers a provider when it starts (workflows.apps); without one, no action
type is listed. Shadow results come from the decision records (governance) and the
agent's own actions (the `actions` relation), by count only.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.db.models import Count

from agents.models import Agent
from governance.models import DecisionRecord, Effect

__all__ = ["RISKIEST_SHOWN", "ReachableAction", "Review", "register_reach", "review_of"]

RISKIEST_SHOWN = 5


@dataclass(frozen=True)
class ReachableAction:
    """An action type a role's patterns grant, with how risky it is."""

    name: str
    description: str
    risk_tier: str
    risk_label: str
    risk_rank: int  # higher is riskier
    data_classification: str


@dataclass
class Review:
    """One agent's review summary."""

    reach: list[ReachableAction] = field(default_factory=list)
    reach_count: int = 0
    shadow_decisions: list[tuple[str, int]] = field(default_factory=list)
    shadow_outcomes: list[tuple[str, int]] = field(default_factory=list)

    @property
    def shadow_total(self) -> int:
        return sum(count for _, count in self.shadow_decisions)


ReachProvider = Callable[[Sequence[str]], list[ReachableAction]]
_providers: list[ReachProvider] = []


def register_reach(provider: ReachProvider) -> None:
    """Add a provider of the action types that action patterns grant (once)."""
    if provider not in _providers:
        _providers.append(provider)


def _reach(patterns: Sequence[str]) -> list[ReachableAction]:
    """Every action type the patterns grant, riskiest first, then by name."""
    found = [action for provider in _providers for action in provider(patterns)]
    return sorted(found, key=lambda action: (-action.risk_rank, action.name))


def _shadow(agent: Agent) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """How the gateway decided the agent's actions while it was at L0, and how its
    shadow actions ended (by state), most frequent first."""
    decisions = (
        DecisionRecord.objects.filter(
            agent_id=agent.pk, autonomy_level=0, source=DecisionRecord.Source.GATEWAY
        )
        .values_list("effect")
        .annotate(count=Count("pk"))
        .order_by("-count")
    )
    outcomes = (
        agent.actions.filter(shadow=True)
        .values_list("state")
        .annotate(count=Count("pk"))
        .order_by("-count")
    )
    labels = dict(Effect.choices)
    state_field = agent.actions.model._meta.get_field("state")
    states = dict(state_field.choices or [])
    return (
        [(labels.get(effect, effect), count) for effect, count in decisions],
        [(str(states.get(state, state)), count) for state, count in outcomes],
    )


def review_of(agent: Agent, reach_by_role: dict[int, list[ReachableAction]]) -> Review:
    """The review summary of `agent`; `reach_by_role` caches each role's reach."""
    if agent.role_id not in reach_by_role:
        reach_by_role[agent.role_id] = _reach(list(agent.role.action_patterns or []))
    reach = reach_by_role[agent.role_id]
    decisions, outcomes = _shadow(agent)
    return Review(
        reach=reach[:RISKIEST_SHOWN],
        reach_count=len(reach),
        shadow_decisions=decisions,
        shadow_outcomes=outcomes,
    )
