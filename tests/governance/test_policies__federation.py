"""Monotonic federation through the services (hypothesis): whatever business-unit rules
people try to save, the ones accepted never make a decision more permissive than the COE's
rules alone (deny < require_approval < allow), over random requests; every attempt to allow
is refused."""

from django.core.exceptions import ValidationError
from django.db import transaction
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from governance import policies
from governance.pdp import ActionFacts, AgentFacts, CompiledPolicySet, DecisionRequest
from tests.factories import SYSTEM

UNITS = ["unit-a", "unit-b"]
ROLES = ["buyer", "clerk"]
AGENTS = ["agent-a", "agent-b", "agent-c"]
ACTIONS = ["erp.purchase_order.create", "erp.invoice.pay", "crm.lead.update"]
PATTERNS = [*ACTIONS, "*", "erp.*", "erp.*.create", "crm.lead.*"]
CONDITIONS = [
    "",
    "payload.amount > 100",
    "payload.amount <= 500 && payload.currency == 'EUR'",
    "has(payload.amount) && payload.amount > 50",
    "agent.level >= 2",
    "action.risk_tier == 'high'",
    "payload.missing > 1",
    "payload.amount >",  # refused at save
]
EFFECTS = ["allow", "deny", "require_approval"]
STRICTNESS = {"allow": 0, "require_approval": 1, "deny": 2}


@st.composite
def rule_fields(draw, owner: str = "coe") -> dict:
    """Fields someone might submit for a rule of `owner`: half of them consistent by
    construction (so that many are accepted), the others anything at all: any effect, any
    units, routes and limits that may not agree, conditions that may not compile."""
    tidy = draw(st.booleans())
    if tidy and owner != "coe":
        effect = draw(st.sampled_from(["deny", "require_approval"]))
    elif tidy:
        effect = draw(st.sampled_from(["allow", "allow", "deny", "require_approval"]))
    else:
        effect = draw(st.sampled_from(EFFECTS))
    conditions = CONDITIONS[:-1] if tidy else CONDITIONS
    units = [[], [owner]] if tidy and owner != "coe" else None
    fields = {
        "name": "r",
        "action_pattern": draw(st.sampled_from(PATTERNS)),
        "effect": effect,
        "condition": draw(st.sampled_from(conditions)),
        "roles": draw(st.lists(st.sampled_from(ROLES), max_size=2, unique=True)),
        "business_units": draw(
            st.sampled_from(units)
            if units
            else st.lists(st.sampled_from(UNITS), max_size=2, unique=True)
        ),
        "agents": draw(st.lists(st.sampled_from(AGENTS), max_size=2, unique=True)),
        "autonomy_levels": draw(st.lists(st.integers(0, 3), max_size=2, unique=True)),
        "log_only": draw(st.booleans()),
    }
    if draw(st.integers(0, 3)) == 0:
        soft = draw(st.sampled_from([None, 5]))
        fields |= {
            "limit_metric": draw(st.sampled_from(["actions", "spend"])),
            "soft_limit": soft,
            "hard_limit": 10 if tidy and soft is None else draw(st.sampled_from([None, 10])),
        }
        if tidy:
            fields["effect"] = "deny"
        if soft is not None or not tidy:
            fields["route"] = draw(st.sampled_from(["", "budget"]))
    elif effect == "require_approval" or not tidy:
        fields["route"] = "finance" if tidy else draw(st.sampled_from(["finance", ""]))
        fields["sla_seconds"] = draw(st.sampled_from([None, 600]))
    return fields


def save_all(actor, version, attempts) -> tuple[list, list]:
    """Try to save each rule through the service: (accepted rules, refused field sets)."""
    accepted, refused = [], []
    for fields in attempts:
        try:
            accepted.append(policies.add_rule(actor, version, **fields))
        except ValidationError as exc:
            refused.append((fields, exc.message_dict))
    return accepted, refused


def requests(limit_ids):
    limits = st.fixed_dictionaries({str(pk): st.sampled_from([0, 6, 11]) for pk in limit_ids})
    return st.builds(
        DecisionRequest,
        agent=st.builds(
            AgentFacts,
            slug=st.sampled_from(AGENTS),
            role=st.sampled_from(ROLES),
            business_unit=st.sampled_from(UNITS),
            autonomy_level=st.integers(0, 3),
            granted_patterns=st.sampled_from([("*",), ("erp.*",)]),
        ),
        action=st.builds(
            ActionFacts, name=st.sampled_from(ACTIONS), risk_tier=st.sampled_from(["low", "high"])
        ),
        payload=st.fixed_dictionaries(
            {},
            optional={
                "amount": st.integers(0, 1000),
                "currency": st.sampled_from(["EUR", "USD"]),
            },
        ),
        context=st.fixed_dictionaries({"limits": limits}),
    )


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    coe_attempts=st.lists(rule_fields(), max_size=4),
    bu_attempts=st.lists(
        st.sampled_from(UNITS).flatmap(lambda unit: st.tuples(st.just(unit), rule_fields(unit))),
        max_size=6,
    ),
    data=st.data(),
)
def test_accepted_business_unit_rules_never_loosen_the_coe_decision(
    world, coe_attempts, bu_attempts, data
):
    with transaction.atomic():
        coe = policies.create_policy(SYSTEM, "coe", "COE").versions.get()
        coe_rules, _ = save_all(SYSTEM, coe, coe_attempts)
        published = [policies.publish(SYSTEM, coe)]
        bu_rules = []
        for unit in (world.unit_a, world.unit_b):
            draft = policies.create_policy(SYSTEM, unit.slug, unit.name, business_unit=unit)
            draft = draft.versions.get()
            attempts = [fields for owner, fields in bu_attempts if owner == unit.slug]
            accepted, refused = save_all(SYSTEM, draft, attempts)
            for rule in accepted:
                assert rule.effect != "allow"
                assert set(rule.business_units) <= {unit.slug}
            for fields, errors in refused:
                if fields["effect"] == "allow":
                    assert "effect" in errors
            bu_rules += accepted
            published.append(policies.publish(SYSTEM, draft))
        note(f"accepted {len(coe_rules)} COE rules and {len(bu_rules)} business-unit rules")

        coe_only = CompiledPolicySet(policies.rules_of(published[:1]))
        combined = CompiledPolicySet(policies.rules_of(published))
        limit_ids = [rule.pk for rule in [*coe_rules, *bu_rules] if rule.limit_metric]
        for request in data.draw(st.lists(requests(limit_ids), min_size=1, max_size=15)):
            floor = coe_only.decide(request).effect
            effect = combined.decide(request).effect
            assert STRICTNESS[effect] >= STRICTNESS[floor], (request, floor, effect)
        transaction.set_rollback(True)
