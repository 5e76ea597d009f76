"""The demo enterprise: business units, personas, roles and a dozen agents.

`seed_demo` calls `seed()`; it is idempotent (objects are found by slug or username and
only created when missing), and every state change goes through the service functions.
"""

from django.contrib.auth import get_user_model
from django.db import transaction

from agents import services as agent_services
from agents.models import Agent, AgentRole, AgentState, AutonomyLevel
from governance import services as governance_services
from governance.ledger import Actor
from governance.models import BusinessUnit, MemberRole

__all__ = ["DEMO_PASSWORD", "demo_logins", "seed"]

DEMO_PASSWORD = "autonomy-demo"

BUSINESS_UNITS = [
    ("procurement", "Procurement", "Buys goods and services; runs suppliers and purchase orders."),
    ("customer-service", "Customer Service", "Answers customers; owns tickets and refunds."),
    ("finance", "Finance", "Closes the books; reconciles payments and invoices."),
]

# username, description, [(business unit slug, role)], is COE
PERSONAS = [
    ("coe-admin", "COE admin: policies, roles, reviews, Django admin", [], True),
    (
        "builder-procurement",
        "Builder in Procurement: registers agents",
        [("procurement", MemberRole.BUILDER)],
        False,
    ),
    (
        "builder-service",
        "Builder in Customer Service",
        [("customer-service", MemberRole.BUILDER)],
        False,
    ),
    (
        "supervisor-procurement",
        "Supervisor of Procurement",
        [("procurement", MemberRole.SUPERVISOR)],
        False,
    ),
    (
        "supervisor-service",
        "Supervisor of Customer Service",
        [("customer-service", MemberRole.SUPERVISOR)],
        False,
    ),
    ("supervisor-finance", "Supervisor of Finance", [("finance", MemberRole.SUPERVISOR)], False),
    (
        "auditor",
        "Auditor of every business unit",
        [(slug, MemberRole.AUDITOR) for slug, _, _ in BUSINESS_UNITS],
        False,
    ),
]

ROLES = [
    (
        "procurement-buyer",
        "Procurement buyer",
        "Raises and amends purchase orders.",
        ["erp.purchase_order.*", "erp.supplier.read"],
        ["internal", "confidential"],
        AutonomyLevel.L2,
    ),
    (
        "supplier-analyst",
        "Supplier analyst",
        "Scores suppliers and flags risks.",
        ["erp.supplier.*"],
        ["internal"],
        AutonomyLevel.L2,
    ),
    (
        "support-responder",
        "Support responder",
        "Answers tickets and issues small refunds.",
        ["crm.ticket.*", "crm.customer.read", "payments.refund.create"],
        ["internal", "confidential"],
        AutonomyLevel.L1,
    ),
    (
        "finance-reconciler",
        "Finance reconciler",
        "Matches payments to invoices.",
        ["erp.invoice.*", "ledger.journal.*"],
        ["internal", "confidential", "restricted"],
        AutonomyLevel.L1,
    ),
    (
        "demand-forecaster",
        "Demand forecaster",
        "Publishes demand forecasts.",
        ["analytics.forecast.*"],
        ["internal"],
        AutonomyLevel.L3,
    ),
]

# slug, name, business unit, owner, role, capabilities, level, target state
AGENTS = [
    (
        "po-drafter",
        "PO Drafter",
        "procurement",
        "builder-procurement",
        "procurement-buyer",
        ["purchase-orders", "drafting"],
        2,
        AgentState.ACTIVE,
    ),
    (
        "po-amender",
        "PO Amender",
        "procurement",
        "builder-procurement",
        "procurement-buyer",
        ["purchase-orders"],
        1,
        AgentState.ACTIVE,
    ),
    (
        "supplier-scout",
        "Supplier Scout",
        "procurement",
        "builder-procurement",
        "supplier-analyst",
        ["supplier-risk"],
        2,
        AgentState.SUSPENDED,
    ),
    (
        "contract-reader",
        "Contract Reader",
        "procurement",
        "builder-procurement",
        "supplier-analyst",
        ["contracts"],
        0,
        AgentState.PENDING_REVIEW,
    ),
    (
        "ticket-triager",
        "Ticket Triager",
        "customer-service",
        "builder-service",
        "support-responder",
        ["triage", "tickets"],
        2,
        AgentState.ACTIVE,
    ),
    (
        "refund-helper",
        "Refund Helper",
        "customer-service",
        "builder-service",
        "support-responder",
        ["refunds"],
        1,
        AgentState.ACTIVE,
    ),
    (
        "faq-writer",
        "FAQ Writer",
        "customer-service",
        "builder-service",
        "support-responder",
        ["knowledge-base"],
        0,
        AgentState.PENDING_REVIEW,
    ),
    (
        "legacy-chatbot",
        "Legacy Chatbot",
        "customer-service",
        "builder-service",
        "support-responder",
        ["chat"],
        1,
        AgentState.RETIRED,
    ),
    (
        "payment-matcher",
        "Payment Matcher",
        "finance",
        "coe-admin",
        "finance-reconciler",
        ["reconciliation"],
        1,
        AgentState.ACTIVE,
    ),
    (
        "invoice-chaser",
        "Invoice Chaser",
        "finance",
        "coe-admin",
        "finance-reconciler",
        ["collections"],
        2,
        AgentState.ACTIVE,
    ),
    (
        "demand-forecaster",
        "Demand Forecaster",
        "finance",
        "coe-admin",
        "demand-forecaster",
        ["forecasting"],
        3,
        AgentState.ACTIVE,
    ),
    (
        "close-assistant",
        "Close Assistant",
        "finance",
        "coe-admin",
        "finance-reconciler",
        ["month-end"],
        1,
        AgentState.DRAFT,
    ),
]

# The transitions (run by the COE admin) that bring a freshly registered agent to a state.
PATH_TO = {
    AgentState.PENDING_REVIEW: [],
    AgentState.ACTIVE: [("approve", "")],
    AgentState.SUSPENDED: [("approve", ""), ("suspend", "Paused during the supplier audit.")],
    AgentState.RETIRED: [("approve", ""), ("retire", "Replaced by Ticket Triager.")],
    AgentState.DRAFT: [("reject", "Needs a clearer purpose before review.")],
}


def demo_logins() -> list[tuple[str, str]]:
    """(username, what they do) for every persona, for printing at start-up."""
    return [(username, description) for username, description, _, _ in PERSONAS]


@transaction.atomic
def seed(stdout=None) -> None:
    """Create whatever of the demo enterprise is missing."""
    User = get_user_model()
    system = Actor.system("seed_demo")
    units = {}
    for slug, name, description in BUSINESS_UNITS:
        unit = BusinessUnit.objects.filter(slug=slug).first()
        units[slug] = unit or governance_services.create_business_unit(
            system, slug=slug, name=name, description=description
        )
    users = {}
    for username, _, memberships, coe in PERSONAS:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create_user(
                username=username, password=DEMO_PASSWORD, email=f"{username}@example.com"
            )
        users[username] = user
        if coe:
            if not user.is_superuser:
                user.is_superuser = True
                user.save(update_fields=["is_superuser"])
            governance_services.make_coe(system, user)
        for unit_slug, role in memberships:
            governance_services.add_membership(system, user, units[unit_slug], role)
    roles = {}
    for slug, name, description, patterns, classes, level in ROLES:
        roles[slug] = AgentRole.objects.filter(slug=slug).first() or agent_services.create_role(
            system,
            slug=slug,
            name=name,
            description=description,
            action_patterns=patterns,
            data_classifications=classes,
            default_autonomy_level=level,
            default_limits={"actions_per_hour": 600},
        )
    coe = users["coe-admin"]
    for slug, name, unit, owner, role, capabilities, level, state in AGENTS:
        if Agent.objects.filter(slug=slug).exists():
            continue
        agent = agent_services.register_agent(
            users[owner],
            slug=slug,
            name=name,
            purpose=f"{name}: {roles[role].description}",
            business_unit=units[unit],
            role=roles[role],
            capabilities=capabilities,
            autonomy_level=level,
        )
        for transition, note in PATH_TO[state]:
            agent_services.transition(coe, agent, transition, note)
    if stdout is not None:
        stdout.write(
            f"Demo enterprise ready: {BusinessUnit.objects.count()} business units, "
            f"{Agent.objects.count()} agents, {len(PERSONAS)} demo logins."
        )
