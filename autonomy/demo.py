"""The demo enterprise: business units, personas, roles and a dozen agents.

`seed_demo` calls `seed()`; it is idempotent (objects are found by slug or username and
only created when missing), and every state change goes through the service functions.
"""

import re

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from agents import services as agent_services
from agents.models import Agent, AgentRole, AgentState, AutonomyLevel
from governance import policies
from governance import services as governance_services
from governance.ledger import Actor
from governance.models import BusinessUnit, MemberRole, Policy
from workflows import catalog
from workflows.models import Connector

__all__ = [
    "APPROVED_SUPPLIERS",
    "DEMO_PASSWORD",
    "demo_erp_url",
    "demo_logins",
    "point_connectors_at_demo_erp",
    "seed",
]

DEMO_PASSWORD = "autonomy-demo"

BUSINESS_UNITS = [
    ("procurement", "Procurement", "Buys goods and services; runs suppliers and purchase orders."),
    ("customer-service", "Customer Service", "Answers customers; owns tickets and refunds."),
    ("finance", "Finance", "Closes the books; reconciles payments and invoices."),
]

# username, description, [(business unit slug, role)], is COE
PERSONAS = [
    ("coe-admin", "COE admin: policies, roles, reviews, Django admin", [], True),
    # Publishing a policy takes two COE members in the demo (AUTONOMY_POLICY_FOUR_EYES).
    ("coe-reviewer", "COE reviewer: approves the policy publications others request", [], True),
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
        AutonomyLevel.L2,
    ),
    (
        "finance-reconciler",
        "Finance reconciler",
        "Matches payments to invoices.",
        ["erp.invoice.*", "ledger.journal.*"],
        ["internal", "confidential", "restricted"],
        AutonomyLevel.L2,
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

# slug, name, business unit, owner, role, capabilities, level, target state. Most are L2
# (guarded: a person decides only where a policy asks); Refund Helper is L1 (supervised: a
# person approves everything it does) and Demand Forecaster L3.
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
        2,
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
        2,
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
        2,
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


def _money(required: tuple[str, ...], **extra) -> dict:
    """A JSON Schema for an object payload with an `amount` and the given fields."""
    properties = {"amount": {"type": "number", "exclusiveMinimum": 0}, **extra}
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


_TEXT = {"type": "string", "minLength": 1, "maxLength": 200}
_CURRENCY = {"type": "string", "enum": ["EUR", "USD", "GBP"]}

# name, business unit (whose queue gets its failures), kind, schema, classification,
# risk tier, sensitive fields
ACTION_TYPES = [
    (
        "erp.purchase_order.create",
        "procurement",
        "write",
        _money(
            ("supplier", "amount", "currency"),
            supplier=_TEXT,
            currency=_CURRENCY,
            description={"type": "string", "maxLength": 500},
        ),
        "confidential",
        "medium",
        [],
    ),
    (
        "erp.purchase_order.update",
        "procurement",
        "write",
        _money(("po_number", "amount"), po_number=_TEXT, currency=_CURRENCY),
        "confidential",
        "medium",
        [],
    ),
    (
        "erp.supplier.read",
        "procurement",
        "read",
        {
            "type": "object",
            "properties": {"supplier": _TEXT},
            "required": ["supplier"],
            "additionalProperties": False,
        },
        "internal",
        "low",
        [],
    ),
    (
        "crm.ticket.update",
        "customer-service",
        "write",
        {
            "type": "object",
            "properties": {
                "ticket_id": _TEXT,
                "status": {"enum": ["open", "pending", "solved"]},
                "reply": {"type": "string", "maxLength": 4000},
            },
            "required": ["ticket_id", "status"],
            "additionalProperties": False,
        },
        "internal",
        "low",
        [],
    ),
    (
        "payments.refund.create",
        "customer-service",
        "write",
        _money(
            ("customer_id", "amount", "iban"), customer_id=_TEXT, iban=_TEXT, currency=_CURRENCY
        ),
        "confidential",
        "high",
        ["iban"],
    ),
    (
        "erp.invoice.match",
        "finance",
        "write",
        {
            "type": "object",
            "properties": {"invoice_id": _TEXT, "payment_id": _TEXT},
            "required": ["invoice_id", "payment_id"],
            "additionalProperties": False,
        },
        "internal",
        "low",
        [],
    ),
    (
        "ledger.journal.post",
        "finance",
        "write",
        _money(("account", "amount"), account=_TEXT, memo={"type": "string", "maxLength": 500}),
        "restricted",
        "high",
        ["account"],
    ),
    (
        "analytics.forecast.publish",
        "finance",
        "write",
        {
            "type": "object",
            "properties": {
                "sku": _TEXT,
                "horizon_days": {"type": "integer", "minimum": 1, "maximum": 365},
                "quantity": {"type": "number", "minimum": 0},
            },
            "required": ["sku", "horizon_days", "quantity"],
            "additionalProperties": False,
        },
        "internal",
        "low",
        [],
    ),
]

# What business users read for each action type, and the payload fields its inbox row shows.
ACTION_TYPE_LABELS = {
    "erp.purchase_order.create": ("Create purchase order", ["supplier", "amount", "currency"]),
    "erp.purchase_order.update": ("Change purchase order", ["po_number", "amount", "currency"]),
    "erp.supplier.read": ("Look up supplier", ["supplier"]),
    "crm.ticket.update": ("Update support ticket", ["ticket_id", "status"]),
    "payments.refund.create": ("Refund a customer", ["customer_id", "amount", "currency"]),
    "erp.invoice.match": ("Match invoice to payment", ["invoice_id", "payment_id"]),
    "ledger.journal.post": ("Post journal entry", ["amount", "memo"]),
    "analytics.forecast.publish": ("Publish demand forecast", ["sku", "quantity", "horizon_days"]),
}

# What of a read's answer is above its action type's classification: the demo ERP's supplier
# record (buyers, cleared for confidential, see contacts and amounts; analysts, cleared for
# internal, neither; nobody's agent sees the bank account).
FIELD_CLASSIFICATIONS = {
    "erp.supplier.read": {
        "bank_account": "restricted",
        "contact.email": "confidential",
        "open_orders.amount": "confidential",
    },
}

# slug, name, business unit (None: COE), SLA seconds
QUEUES = [
    ("coe-approvals", "COE approvals", None, 8 * 3600),
    ("procurement-approvals", "Procurement approvals", "procurement", 4 * 3600),
    ("customer-service-approvals", "Customer Service approvals", "customer-service", 3600),
    ("finance-approvals", "Finance approvals", "finance", 4 * 3600),
]

# Suppliers Procurement has vetted; an order to any other needs a buyer's approval.
APPROVED_SUPPLIERS = ["Acme", "Globex", "Initech", "Umbrella"]
_APPROVED = ", ".join(f'"{name}"' for name in APPROVED_SUPPLIERS)

# The COE's baseline: most work is allowed, large or sensitive work needs a person.
COE_RULES = [
    dict(
        name="Purchase orders up to 5,000",
        action_pattern="erp.purchase_order.*",
        condition="payload.amount <= 5000.0",
        effect="allow",
    ),
    dict(
        name="Purchase orders above 5,000 need a buyer's approval",
        action_pattern="erp.purchase_order.*",
        condition="payload.amount > 5000.0",
        effect="require_approval",
        route="procurement-approvals",
        sla_seconds=4 * 3600,
        reason="Orders above 5,000 are approved by Procurement.",
    ),
    dict(
        name="No purchase order above 100,000",
        action_pattern="erp.purchase_order.*",
        condition="payload.amount > 100000.0",
        effect="deny",
        reason="Orders above 100,000 go through the tender process.",
    ),
    dict(
        name="Orders to a new supplier need a buyer's approval",
        action_pattern="erp.purchase_order.create",
        condition=f"!(payload.supplier in [{_APPROVED}])",
        effect="require_approval",
        route="procurement-approvals",
        sla_seconds=4 * 3600,
        reason="Orders to a supplier not yet vetted are approved by Procurement.",
    ),
    dict(name="Supplier lookups", action_pattern="erp.supplier.read", effect="allow"),
    dict(name="Ticket updates", action_pattern="crm.ticket.*", effect="allow"),
    dict(
        name="Small refunds",
        action_pattern="payments.refund.create",
        condition="payload.amount <= 50.0",
        effect="allow",
    ),
    dict(
        name="Refunds above 50 need approval",
        action_pattern="payments.refund.create",
        condition="payload.amount > 50.0",
        effect="require_approval",
        route="customer-service-approvals",
        sla_seconds=3600,
        reason="Refunds above 50 are checked by a supervisor.",
    ),
    dict(name="Invoice matching", action_pattern="erp.invoice.*", effect="allow"),
    dict(
        name="Journal postings up to 1,000",
        action_pattern="ledger.journal.*",
        condition="payload.amount <= 1000.0",
        effect="allow",
    ),
    dict(
        name="Journal postings above 1,000 need a controller",
        action_pattern="ledger.journal.*",
        condition="payload.amount > 1000.0",
        effect="require_approval",
        route="finance-approvals",
        sla_seconds=4 * 3600,
        reason="Journal postings above 1,000 are approved by Finance.",
    ),
    dict(name="Forecasts", action_pattern="analytics.forecast.*", effect="allow"),
    dict(
        name="Runaway guard: 120 actions a minute",
        action_pattern="*",
        effect="deny",
        limit_metric="actions",
        limit_scope="agent",
        limit_window="minute",
        hard_limit=120,
        reason="An agent may not act more than 120 times a minute.",
    ),
    dict(
        name="Weekend activity monitor",
        action_pattern="*",
        effect="deny",
        condition="context.weekday >= 5",
        log_only=True,
        reason="Recorded to review weekend work; not enforced.",
    ),
]

# Finance tightens the COE's floor for its own unit.
FINANCE_RULES = [
    dict(
        name="Forecasts above 10,000 units need review",
        action_pattern="analytics.forecast.*",
        condition="payload.quantity > 10000.0",
        effect="require_approval",
        route="finance-approvals",
        sla_seconds=2 * 3600,
        business_units=["finance"],
        reason="Large forecasts move inventory; Finance reviews them.",
    ),
]


# Where the seed points the ERP connectors when AUTONOMY_DEMO_ERP_PORT is unset; run_embedded
# re-points them at the port its demo ERP actually got.
SEED_ERP_PORT = 8009


def demo_erp_url(port: int | None = None) -> str:
    """Where the demo ERP listens: on `port`, else AUTONOMY_DEMO_ERP_PORT, else SEED_ERP_PORT."""
    return f"http://127.0.0.1:{port or settings.AUTONOMY_DEMO_ERP_PORT or SEED_ERP_PORT}"


# The demo's connectors to its ERP: slug -> the path after demo_erp_url().
DEMO_ERP_PATHS = {
    "demo-erp-orders": "/purchase-orders",
    "demo-erp-suppliers": "/suppliers/{payload.supplier}",
}


@transaction.atomic
def point_connectors_at_demo_erp(actor: Actor, port: int) -> list[str]:
    """Point the demo's ERP connectors at `port`, where the demo ERP listens now (a free
    port, or AUTONOMY_DEMO_ERP_PORT, may differ from when they were seeded), through the
    catalog's service (recorded in the ledger). A connector someone pointed elsewhere is
    left alone. Returns the slugs changed."""
    changed = []
    base = demo_erp_url(port)
    for slug, path in DEMO_ERP_PATHS.items():
        connector = Connector.objects.filter(slug=slug).first()
        url = (connector.config or {}).get("url", "") if connector else ""
        if not re.fullmatch(rf"http://127\.0\.0\.1:\d+{re.escape(path)}", url):
            continue
        if url != f"{base}{path}":
            config = {**connector.config, "url": f"{base}{path}"}
            catalog.update_connector(actor, connector, config=config, via="demo")
            changed.append(slug)
    return changed


def _ensure_erp_connector(system: Actor, slug: str, name: str, method: str, **fields):
    """The http connector `slug` to the demo ERP (its path in DEMO_ERP_PATHS), created when
    missing."""
    return catalog.ensure_connector(
        system,
        slug,
        name=name,
        kind=Connector.Kind.HTTP,
        config={
            "method": method,
            "url": f"{demo_erp_url()}{DEMO_ERP_PATHS[slug]}",
            "allowed_hosts": ["127.0.0.1"],
            "allow_private_hosts": True,
            "timeout_seconds": 5,
        },
        **fields,
    )


def _seed_governance(system: Actor, units: dict) -> None:
    """Queues, action types, connectors and published policies, created only when missing."""
    erp_orders = _ensure_erp_connector(
        system, "demo-erp-orders", "Demo ERP: purchase orders", "POST", max_attempts=5
    )
    erp_suppliers = _ensure_erp_connector(
        system, "demo-erp-suppliers", "Demo ERP: supplier records", "GET"
    )
    connectors = {"erp.purchase_order.create": erp_orders, "erp.supplier.read": erp_suppliers}
    queues = {}
    for slug, name, unit, sla in QUEUES:  # the COE queue comes first: the others' parent
        queues[slug] = catalog.ensure_queue(
            system,
            slug,
            name=name,
            business_unit=units.get(unit),
            sla_seconds=sla,
            parent=queues.get("coe-approvals"),
        )
    for name, unit, kind, schema, classification, tier, sensitive in ACTION_TYPES:
        title, summary_fields = ACTION_TYPE_LABELS[name]
        action_type = catalog.ensure_action_type(
            system,
            name,
            description=name.replace(".", " ").replace("_", " ").capitalize(),
            kind=kind,
            payload_schema=schema,
            data_classification=classification,
            risk_tier=tier,
            sensitive_fields=sensitive,
            field_classifications=FIELD_CLASSIFICATIONS.get(name, {}),
            approval_queue=queues[f"{unit}-approvals"],
            connector=connectors.get(name),
            title=title,
            summary_fields=summary_fields,
        )
        if not action_type.title:  # seeded before action types had titles
            catalog.update_action_type(
                system, action_type, title=title, summary_fields=summary_fields, via="demo"
            )
    for slug, name, unit, rules in [
        ("enterprise-baseline", "Enterprise baseline", None, COE_RULES),
        ("finance-tightening", "Finance tightening", units["finance"], FINANCE_RULES),
    ]:
        if Policy.objects.filter(slug=slug).exists():
            continue
        policy = policies.create_policy(system, slug, name, business_unit=unit)
        draft = policy.versions.get()
        for rule in rules:
            policies.add_rule(system, draft, **rule)
        policies.publish(system, draft)


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
    _seed_governance(system, units)
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
