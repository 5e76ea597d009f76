"""The demo workforce's mix on the seeded demo: the real decision point decides a generated
sample of what each active agent sends, and a unit's supervisor gets tens of escalations in
the demo's first 15 minutes, not hundreds."""

import random
from collections import Counter
from io import StringIO

from django.core.management import call_command

from agents.models import Agent, AgentState
from autonomy.demo import AGENTS
from autonomy.management.commands.run_workforce import INTERVAL, MIX, choose, mean_interval
from governance.ledger import Actor
from governance.models import DecisionRecord
from governance.pdp import Effect
from workflows.decisions import decide_action

SAMPLE = 300  # generated requests per active agent
MINUTES = 15


def test_most_demo_agents_are_guarded_with_a_few_supervised_or_autonomous():
    levels = Counter(level for *_, level, _ in AGENTS)
    assert levels[2] > len(AGENTS) / 2
    assert 1 <= levels[1] <= 3 and 1 <= levels[3] <= 3


def test_the_seeded_policies_and_levels_escalate_a_minority_of_the_workforces_requests(db):
    call_command("seed_demo", stdout=StringIO())
    rng = random.Random(14)
    system = Actor.system("test")
    agents = Agent.objects.filter(state=AgentState.ACTIVE, role__slug__in=MIX).select_related(
        "role", "business_unit"
    )
    assert agents.count() == 7
    effects: Counter = Counter()
    escalations_in_15_minutes: Counter = Counter()
    for agent in agents:
        decided = Counter(
            decide_action(
                agent, *choose(rng, agent.role.slug), actor=system, persist=False
            ).decision.effect
            for _ in range(SAMPLE)
        )
        effects += decided
        actions = MINUTES * 60 / mean_interval(agent, INTERVAL)
        share = decided[Effect.REQUIRE_APPROVAL] / SAMPLE
        escalations_in_15_minutes[agent.business_unit.slug] += actions * share
        if agent.autonomy_level != 1:
            assert share < 0.25, (agent.slug, decided)

    total = sum(effects.values())
    assert effects[Effect.REQUIRE_APPROVAL] / total < 0.25, effects
    assert effects[Effect.DENY] / total < 0.02, effects
    assert effects[Effect.ALLOW] / total > 0.7, effects
    assert set(escalations_in_15_minutes) == {"procurement", "customer-service", "finance"}
    for unit, expected in escalations_in_15_minutes.items():
        assert 10 <= expected < 60, (unit, expected)
    assert not DecisionRecord.objects.exists()  # decided, not recorded
