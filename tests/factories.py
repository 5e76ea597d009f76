"""Small helpers that build test data through the same service functions the product uses."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model

from agents import services as agent_services
from agents.models import Agent, AgentRole, AutonomyLevel
from governance import services as governance_services
from governance.ledger import Actor
from governance.models import BusinessUnit, MemberRole

PASSWORD = "correct-horse-battery"

SYSTEM = Actor.system("tests")


def make_user(username: str, **extra):
    return get_user_model().objects.create_user(username=username, password=PASSWORD, **extra)


def make_unit(slug: str) -> BusinessUnit:
    return governance_services.create_business_unit(SYSTEM, slug=slug, name=slug.title())


def make_role(slug: str = "buyer", patterns=("erp.purchase_order.*",)) -> AgentRole:
    return AgentRole.objects.create(
        slug=slug,
        name=slug.title(),
        action_patterns=list(patterns),
        data_classifications=["internal"],
        default_autonomy_level=AutonomyLevel.L2,
    )


def make_agent(owner, unit, role, slug: str, *, active: bool = True, approver=None) -> Agent:
    agent = agent_services.register_agent(
        owner,
        slug=slug,
        name=slug.replace("-", " ").title(),
        purpose="Testing.",
        business_unit=unit,
        role=role,
        capabilities=["testing"],
    )
    if active:
        if approver is None:
            approver = get_user_model().objects.filter(is_superuser=True).first() or make_user(
                "approver", is_superuser=True
            )
        agent_services.transition(approver, agent, "approve")
    return agent


@dataclass
class World:
    """Two business units, A and B, and the personas of the access tests."""

    unit_a: BusinessUnit
    unit_b: BusinessUnit
    role: AgentRole
    coe: object
    builder_a: object
    supervisor_a: object
    supervisor_b: object
    auditor: object  # auditor of business unit A only
    agent_a: Agent
    agent_b: Agent
    key_a: str
    key_b: str


def make_world() -> World:
    unit_a, unit_b = make_unit("unit-a"), make_unit("unit-b")
    role = make_role()
    coe = make_user("coe", is_staff=True)
    governance_services.make_coe(SYSTEM, coe)
    builder_a = make_user("builder-a")
    governance_services.add_membership(SYSTEM, builder_a, unit_a, MemberRole.BUILDER)
    builder_b = make_user("builder-b")
    governance_services.add_membership(SYSTEM, builder_b, unit_b, MemberRole.BUILDER)
    supervisor_a = make_user("supervisor-a")
    governance_services.add_membership(SYSTEM, supervisor_a, unit_a, MemberRole.SUPERVISOR)
    supervisor_b = make_user("supervisor-b")
    governance_services.add_membership(SYSTEM, supervisor_b, unit_b, MemberRole.SUPERVISOR)
    auditor = make_user("auditor")
    governance_services.add_membership(SYSTEM, auditor, unit_a, MemberRole.AUDITOR)
    agent_a = make_agent(builder_a, unit_a, role, "agent-a", approver=coe)
    agent_b = make_agent(builder_b, unit_b, role, "agent-b", approver=coe)
    _, key_a = agent_services.issue_key(builder_a, agent_a)
    _, key_b = agent_services.issue_key(builder_b, agent_b)
    return World(
        unit_a,
        unit_b,
        role,
        coe,
        builder_a,
        supervisor_a,
        supervisor_b,
        auditor,
        agent_a,
        agent_b,
        key_a,
        key_b,
    )
