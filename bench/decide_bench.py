"""Decision-point benchmark: governance.pdp against cedarpy on the same policy sets.

Run with `bench/decide` (options: --rounds N, --quick, --record). For 10, 100 and 1000
rules (plus a "dense" 1000 concentrated on 10 actions) it builds one set of rules with
realistic conditions, writes the same set in Cedar, checks that both engines give the same
answers on sampled requests, then times both engines interleaved (A, B, A, B, ...) on
warm caches and prints median / p99 latency, decisions per second and the ratio.

How the two engines are made comparable:
* Cedar has two answers. Deny and require_approval rules become `forbid` policies
  annotated with `@id`; the COE's allow rules become `permit`. So Cedar says Allow exactly
  when our engine says allow (before the L1 overlay, which both sides apply in Python).
  The timed Cedar path maps the determining policies back to allow / deny /
  require_approval through their ids.
* Our business-unit rules only tighten a COE decision. When the only forbids that fire are
  business-unit approval rules, Cedar's answer cannot tell whether a COE rule allowed the
  action; the cross-check then asks a second "COE floor" policy set. The timed path skips
  that second query, which favours cedarpy.
* log_only rules do not change effects and have no Cedar counterpart; they are omitted
  from the Cedar set (our engine still evaluates and reports them).
* The role's grants become one `forbid ... unless { action in <granted groups> }` per role.
* Both engines get pre-built requests: our DecisionRequest, and Cedar's request dict with
  the payload in its context. cedarpy uses pre-parsed PolicySet and Entities handles.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter_ns

import cedarpy

from governance.pdp import (
    ActionFacts,
    AgentFacts,
    CompiledPolicySet,
    DecisionRequest,
    Rule,
    Scope,
    pattern_matches,
)

RESULTS = Path(__file__).with_name("RESULTS.md")
START_MARK = "<!-- bench/decide:start -->"
END_MARK = "<!-- bench/decide:end -->"

DOMAINS = {
    "erp": ("buyer", ["purchase_order", "invoice", "supplier", "goods_receipt", "payment"]),
    "crm": ("sales", ["opportunity", "lead", "account", "quote"]),
    "support": ("support", ["ticket", "refund", "credit_note"]),
    "maint": ("maintenance", ["work_order", "spare_part", "inspection"]),
    "fin": ("finance", ["journal", "reconciliation", "transfer", "forecast"]),
}
VERBS = ["create", "update", "approve", "cancel", "close"]
UNITS = ["emea", "apac", "amer", "latam", "nordics", "dach", "uk", "india"]
CURRENCIES = ["EUR", "USD", "GBP", "JPY"]
CLASSIFICATIONS = ["internal", "internal", "confidential", "restricted"]


def action_catalog() -> list[tuple[str, str, str]]:
    """(name, data classification, risk tier), domains interleaved so that small sets
    still span several domains; numbered variants extend it past 300 actions."""
    rng = random.Random(7)
    names = []
    for variant in range(4):
        for verb in VERBS:
            for obj_index in range(5):
                for domain, (_, objects) in DOMAINS.items():
                    if obj_index < len(objects):
                        obj = objects[obj_index] + (f"_{variant}" if variant else "")
                        names.append(f"{domain}.{obj}.{verb}")
    names.remove("erp.purchase_order.create")
    names.insert(0, "erp.purchase_order.create")
    return [(n, rng.choice(CLASSIFICATIONS), rng.choice(["low", "medium", "high"])) for n in names]


@dataclass
class BenchRule:
    """A rule in both languages."""

    rule: Rule
    cedar_condition: str
    cedar_kind: str  # "allow", "deny", "approval"


@dataclass
class World:
    label: str
    rules: list[BenchRule]
    actions: list[tuple[str, str, str]]
    agents: list[AgentFacts]
    requests: list[tuple[DecisionRequest, dict]] = field(default_factory=list)


def _templates(action: str, domain: str, i: int, per_unit: int) -> list[tuple]:
    """(name, effect, owner, scope, CEL, Cedar, route) for one action: the COE's allow,
    approval and deny rules, then business-unit tightenings."""
    role = DOMAINS[domain][0]
    cap = 5_000 + 1_000 * (i % 20)
    out = [
        (
            "allow within cap, currency and hours",
            "allow",
            "coe",
            Scope(roles=frozenset({role})),
            f"payload.amount <= {cap * 10} && payload.currency in ['EUR', 'USD', 'GBP'] "
            "&& context.hour >= 6 && context.hour < 20",
            f'context.payload.amount <= {cap * 10} && ["EUR", "USD", "GBP"].contains('
            "context.payload.currency) && context.hour >= 6 && context.hour < 20",
            "",
        ),
        (
            "large or confidential needs approval",
            "require_approval",
            "coe",
            Scope(),
            f"payload.amount > {cap} || (action.data_classification == 'confidential' "
            "&& agent.level < 3)",
            f"context.payload.amount > {cap} || "
            '(context.action.data_classification == "confidential" && principal.level < 3)',
            f"{domain}-approvals",
        ),
        (
            "restricted data needs L3",
            "deny",
            "coe",
            Scope(),
            "action.data_classification == 'restricted' && agent.level < 3",
            'context.action.data_classification == "restricted" && principal.level < 3',
            "",
        ),
        (
            "no weekend work below L2",
            "deny",
            "coe",
            Scope(autonomy_levels=frozenset({0, 1})),
            "context.weekday >= 5",
            "context.weekday >= 5",
            "",
        ),
    ]
    for k in range(per_unit):
        unit = UNITS[(i + k) % len(UNITS)]
        limit = 2_000 + 500 * ((i + k) % 7)
        if k % 3 == 0:
            out.append(
                (
                    f"{unit}: approval above {limit}",
                    "require_approval",
                    unit,
                    Scope(business_units=frozenset({unit})),
                    f"payload.amount > {limit}",
                    f"context.payload.amount > {limit}",
                    f"{unit}-{domain}",
                )
            )
        elif k % 3 == 1:
            out.append(
                (
                    f"{unit}: no GBP or JPY",
                    "deny",
                    unit,
                    Scope(business_units=frozenset({unit})),
                    "payload.currency in ['GBP', 'JPY']",
                    '["GBP", "JPY"].contains(context.payload.currency)',
                    "",
                )
            )
        else:
            out.append(
                (
                    f"{unit}: soft hourly limit",
                    "require_approval",
                    unit,
                    Scope(business_units=frozenset({unit}), autonomy_levels=frozenset({2, 3})),
                    f"context.counts.agent_actions_hour > {20 + k}",
                    f"context.counts.agent_actions_hour > {20 + k}",
                    f"{unit}-limits",
                )
            )
    return out


def _wildcards(domains: list[str]) -> list[tuple]:
    out = [
        (
            "monitor: very large amounts",
            "deny",
            "coe",
            Scope(),
            "payload.amount > 40000",
            "",
            "",
            True,
            "*",
        )
    ]
    for domain in domains:
        out.append(
            (
                f"{domain}: daily business-unit budget",
                "deny",
                "coe",
                Scope(),
                "context.counts.bu_amount_day + payload.amount > 400000",
                "context.counts.bu_amount_day + context.payload.amount > 400000",
                "",
                False,
                f"{domain}.*",
            )
        )
    return out


def build_world(n_rules: int, *, dense: bool = False, seed: int = 1) -> World:
    """A policy set of exactly `n_rules` rules. Normal sets grow the way organisations do:
    more action types, about 8 rules each; the dense set puts 1000 rules on 10 actions."""
    catalog = action_catalog()
    per_unit = 96 if dense else 4
    per_action = 4 + per_unit
    n_actions = 10 if dense else max(1, round(n_rules / per_action))
    actions = catalog[:n_actions]
    domains = sorted({name.split(".")[0] for name, _, _ in actions})
    rules: list[BenchRule] = []
    for pattern_rule in _wildcards(domains):
        name, effect, owner, scope, cel_src, cedar_src, route, log_only, pattern = pattern_rule
        rules.append(
            BenchRule(
                Rule(
                    id=f"r{len(rules)}",
                    name=name,
                    action_pattern=pattern,
                    effect=effect,
                    condition=cel_src,
                    scope=scope,
                    owner=owner,
                    policy_version_id=1,
                    route=route,
                    log_only=log_only,
                ),
                cedar_src,
                _kind(effect),
            )
        )
    budget = n_rules - len(rules)
    per_action_rules = [
        _templates(name, name.split(".")[0], i, per_unit) for i, (name, _, _) in enumerate(actions)
    ]
    j = 0
    while len(rules) < n_rules:
        progressed = False
        for i, (action, _, _) in enumerate(actions):
            if j < len(per_action_rules[i]) and len(rules) < n_rules:
                name, effect, owner, scope, cel_src, cedar_src, route = per_action_rules[i][j]
                rules.append(
                    BenchRule(
                        Rule(
                            id=f"r{len(rules)}",
                            name=name,
                            action_pattern=action,
                            effect=effect,
                            condition=cel_src,
                            scope=scope,
                            owner=owner,
                            policy_version_id=1 if owner == "coe" else 100 + UNITS.index(owner),
                            route=route,
                            sla_seconds=4 * 3600 if effect == "require_approval" else None,
                        ),
                        cedar_src,
                        _kind(effect),
                    )
                )
                progressed = True
        j += 1
        if not progressed:
            break
    assert len(rules) == n_rules, (len(rules), n_rules, budget)
    rng = random.Random(seed)
    agents = []
    for n in range(80):
        domain = list(DOMAINS)[n % len(DOMAINS)]
        role = DOMAINS[domain][0]
        grants = (f"{domain}.*",) + (("support.ticket.*",) if role == "sales" else ())
        agents.append(
            AgentFacts(
                slug=f"{role}-{n}",
                role=role,
                business_unit=rng.choice(UNITS),
                autonomy_level=rng.choices([0, 1, 2, 3], weights=[1, 2, 4, 3])[0],
                capabilities=(domain,),
                granted_patterns=grants,
            )
        )
    label = f"{n_rules} dense" if dense else str(n_rules)
    return World(label, rules, actions, agents)


def _kind(effect: str) -> str:
    return {"allow": "allow", "deny": "deny", "require_approval": "approval"}[effect]


def make_requests(world: World, count: int, seed: int = 2) -> None:
    """Random requests: mostly agents whose role grants the action, some that it does not."""
    rng = random.Random(seed)
    by_domain: dict[str, list[AgentFacts]] = {}
    for agent in world.agents:
        by_domain.setdefault(agent.capabilities[0], []).append(agent)
    for _ in range(count):
        name, classification, risk = rng.choice(world.actions)
        domain = name.split(".")[0]
        agent = rng.choice(by_domain[domain] if rng.random() < 0.9 else world.agents)
        amount = int(rng.lognormvariate(7.5, 1.3))
        payload = {
            "amount": amount,
            "currency": rng.choices(CURRENCIES, weights=[5, 4, 2, 1])[0],
            "supplier": rng.choice(["acme", "globex", "initech", "umbrella"]),
            "cost_center": f"CC-{rng.randint(100, 999)}",
            "lines": [
                {"sku": f"SKU-{rng.randint(1, 999)}", "qty": rng.randint(1, 20)} for _ in range(2)
            ],
        }
        context = {
            "hour": rng.randint(0, 23),
            "weekday": rng.randint(0, 6),
            "counts": {
                "agent_actions_hour": rng.randint(0, 40),
                "bu_amount_day": rng.randint(0, 400_000),
            },
        }
        ours = DecisionRequest(agent, ActionFacts(name, classification, risk), payload, context)
        cedar = {
            "principal": f'Agent::"{agent.slug}"',
            "action": f'Action::"{name}"',
            "resource": 'Gateway::"actions"',
            "context": {
                **context,
                "payload": payload,
                "action": {"data_classification": classification, "risk_tier": risk},
            },
        }
        world.requests.append((ours, cedar))


# Cedar


def _cedar_scope(scope: Scope) -> list[str]:
    clauses = []
    if scope.roles:
        clauses.append(f"{json.dumps(sorted(scope.roles))}.contains(principal.role)")
    if scope.business_units:
        clauses.append(
            f"{json.dumps(sorted(scope.business_units))}.contains(principal.business_unit)"
        )
    if scope.agents:
        clauses.append(f"{json.dumps(sorted(scope.agents))}.contains(principal.slug)")
    if scope.autonomy_levels:
        clauses.append(f"{json.dumps(sorted(scope.autonomy_levels))}.contains(principal.level)")
    return clauses


def _cedar_action(pattern: str) -> str:
    if pattern == "*":
        return "action"
    if "*" in pattern:
        return f"action in Action::{json.dumps(pattern)}"
    return f"action == Action::{json.dumps(pattern)}"


@dataclass
class CedarSet:
    policies: cedarpy.PolicySet
    floor: cedarpy.PolicySet
    entities: cedarpy.Entities
    kinds: dict[str, tuple[str, bool]]  # @id -> (kind, owned by the COE)
    compile_ms: float


def cedar_set(world: World) -> CedarSet:
    """The world's rules as Cedar policies, with pre-parsed handles."""
    texts, floor_texts = [], []
    kinds: dict[str, tuple[str, bool]] = {}
    for bench_rule in world.rules:
        rule = bench_rule.rule
        if rule.log_only:
            continue
        scope = Scope(
            rule.scope.roles,
            rule.scope.business_units
            or (frozenset({rule.owner}) if rule.owner != "coe" else frozenset()),
            rule.scope.agents,
            rule.scope.autonomy_levels,
        )
        clauses = [*_cedar_scope(scope), f"({bench_rule.cedar_condition})"]
        when = " && ".join(clauses)
        head = f"(principal, {_cedar_action(rule.action_pattern)}, resource)"
        verb = "permit" if bench_rule.cedar_kind == "allow" else "forbid"
        texts.append(f'@id("{rule.id}")\n{verb} {head}\nwhen {{ {when} }};')
        kinds[rule.id] = (bench_rule.cedar_kind, rule.owner == "coe")
        if rule.owner == "coe" and bench_rule.cedar_kind != "deny":
            floor_texts.append(f'@id("{rule.id}")\npermit {head}\nwhen {{ {when} }};')
    roles: dict[str, tuple[str, ...]] = {}
    for agent in world.agents:
        roles[agent.role] = agent.granted_patterns
    for role, grants in sorted(roles.items()):
        if "*" in grants:
            continue
        granted = " || ".join(_cedar_action(g) for g in grants)
        texts.append(
            f'@id("grant:{role}")\nforbid (principal, action, resource)\n'
            f'when {{ principal.role == "{role}" }} unless {{ {granted} }};'
        )
        kinds[f"grant:{role}"] = ("deny", True)
    patterns = {r.rule.action_pattern for r in world.rules if "*" in r.rule.action_pattern}
    patterns |= {g for grants in roles.values() for g in grants if "*" in g}
    patterns.discard("*")
    names = {name for name, _, _ in world.actions} | {r.action.name for r, _ in world.requests}
    entities = [
        {"uid": {"type": "Action", "id": p}, "attrs": {}, "parents": []} for p in sorted(patterns)
    ]
    for name in sorted(names):
        parents = [
            {"type": "Action", "id": p} for p in sorted(patterns) if pattern_matches(p, name)
        ]
        entities.append({"uid": {"type": "Action", "id": name}, "attrs": {}, "parents": parents})
    for agent in world.agents:
        entities.append(
            {
                "uid": {"type": "Agent", "id": agent.slug},
                "attrs": {
                    "slug": agent.slug,
                    "role": agent.role,
                    "business_unit": agent.business_unit,
                    "level": agent.autonomy_level,
                },
                "parents": [],
            }
        )
    start = perf_counter_ns()
    policies = cedarpy.PolicySet.from_str("\n".join(texts))
    handle = cedarpy.Entities.from_json_str(json.dumps(entities))
    compile_ms = (perf_counter_ns() - start) / 1e6
    floor = cedarpy.PolicySet.from_str("\n".join(floor_texts) or "")
    return CedarSet(policies, floor, handle, kinds, compile_ms)


def cedar_effect(result: cedarpy.AuthzResult, kinds: dict, level: int) -> tuple[str, bool]:
    """Cedar's answer as allow / deny / require_approval, from the determining policies.
    Returns (effect, needs_floor): True when only business-unit approvals fired, so whether
    a COE rule allowed the action must be asked separately."""
    needs_floor = False
    if result.allowed:
        effect = "allow"
    else:
        ids = result.diagnostics.id_annotations_by_reason
        fired = [kinds[ids[reason]] for reason in result.diagnostics.reasons]
        if not fired or any(kind == "deny" for kind, _ in fired):
            effect = "deny"
        else:
            effect = "require_approval"
            needs_floor = not any(coe for _, coe in fired)
    if effect == "allow" and level == 1:
        effect = "require_approval"
    return effect, needs_floor


# Measurement


def cross_check(world: World, cedar: CedarSet, policy_set: CompiledPolicySet, sample: int):
    """Both engines on the same requests: counts of agreement, per effect."""
    agree = 0
    mismatches = []
    effects = {"allow": 0, "deny": 0, "require_approval": 0}
    floor_queries = 0
    cedar_errors = 0
    for ours_req, cedar_req in world.requests[:sample]:
        ours = str(policy_set.decide(ours_req).effect)
        result = cedarpy.is_authorized(cedar_req, cedar.policies, cedar.entities)
        cedar_errors += bool(result.diagnostics.errors)
        effect, needs_floor = cedar_effect(result, cedar.kinds, ours_req.agent.autonomy_level)
        if needs_floor:
            floor_queries += 1
            if not cedarpy.is_authorized(cedar_req, cedar.floor, cedar.entities).allowed:
                effect = "deny"
        effects[ours] += 1
        if effect == ours:
            agree += 1
        elif len(mismatches) < 5:
            mismatches.append((ours_req, ours, effect, result.diagnostics.reasons))
    return agree, effects, mismatches, floor_queries, cedar_errors


def time_ours(policy_set: CompiledPolicySet, requests: list, out: list[float]) -> None:
    decide = policy_set.decide
    for req in requests:
        start = perf_counter_ns()
        decide(req)
        out.append((perf_counter_ns() - start) / 1000)


def time_cedar(cedar: CedarSet, requests: list, out: list[float]) -> None:
    policies, entities, kinds = cedar.policies, cedar.entities, cedar.kinds
    for ours_req, cedar_req in requests:
        start = perf_counter_ns()
        result = cedarpy.is_authorized(cedar_req, policies, entities)
        cedar_effect(result, kinds, ours_req.agent.autonomy_level)
        out.append((perf_counter_ns() - start) / 1000)


@dataclass
class Setup:
    """One timed variant: a compiled set, the traffic it decides, and its Cedar twin."""

    label: str
    actions: int
    policy_set: CompiledPolicySet
    requests: list
    cedar: CedarSet | None
    agree: str
    compile_ms: float
    ours: list[float] = field(default_factory=list)
    theirs: list[float] = field(default_factory=list)

    def row(self) -> dict:
        nan = float("nan")
        return {
            "label": self.label,
            "actions": self.actions,
            "ours_median": statistics.median(self.ours),
            "ours_p99": p99(self.ours),
            "ours_rate": 1e6 / statistics.fmean(self.ours),
            "cedar_median": statistics.median(self.theirs) if self.theirs else nan,
            "cedar_p99": p99(self.theirs) if self.theirs else nan,
            "cedar_rate": 1e6 / statistics.fmean(self.theirs) if self.theirs else nan,
            "agree": self.agree,
            "n": (len(self.ours), len(self.theirs)),
            "compile": (self.compile_ms, self.cedar.compile_ms if self.cedar else nan),
        }


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPU ({model}), Python {platform.python_version()}, "
        f"cedarpy {_version('cedarpy')}, common-expression-language "
        f"{_version('common-expression-language')}, {platform.system()} {platform.release()}"
    )


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=60, help="interleaved rounds (default 60)")
    parser.add_argument("--quick", action="store_true", help="a few rounds, for a smoke test")
    parser.add_argument("--record", action="store_true", help=f"write the table into {RESULTS}")
    args = parser.parse_args(argv)
    rounds = 3 if args.quick else args.rounds
    ours_chunk, cedar_chunk, sample = (100, 20, 200) if args.quick else (300, 40, 1000)

    began = time.monotonic()
    worlds = [build_world(10), build_world(100), build_world(1000), build_world(1000, dense=True)]
    setups = []
    checks: list[str] = []
    print(f"machine: {machine()}")
    print("building policy sets and cross-checking both engines ...")
    for world in worlds:
        make_requests(world, 2000)
        start = perf_counter_ns()
        policy_set = CompiledPolicySet(b.rule for b in world.rules)
        ours_compile_ms = (perf_counter_ns() - start) / 1e6
        cedar = cedar_set(world)
        for req, _ in world.requests:  # warm the per-(action, unit, role, level) index
            policy_set.decide(req)
        agree, effects, mismatches, floors, cedar_errors = cross_check(
            world, cedar, policy_set, sample
        )
        check = (
            f"{world.label} rules, {len(world.actions)} action types: same effect on {agree} of "
            f"{sample} requests (ours: {effects['allow']} allow, {effects['deny']} deny, "
            f"{effects['require_approval']} require_approval); Cedar floor queries {floors}, "
            f"Cedar evaluation errors {cedar_errors}"
        )
        checks.append(check)
        print(f"  {check}")
        for req, ours, theirs, reasons in mismatches:
            print(f"    MISMATCH ours={ours} cedar={theirs} {reasons} {req}")
        setups.append(
            Setup(
                world.label,
                len(world.actions),
                policy_set,
                world.requests,
                cedar,
                f"{agree}/{sample}",
                ours_compile_ms,
            )
        )
    # Rule count alone: the 1000-rule set decides the 100-rule set's traffic (same actions).
    small, large = setups[1], setups[2]
    for req, _ in small.requests:
        large.policy_set.decide(req)
    same_traffic = Setup(
        "1000, traffic of 100",
        small.actions,
        large.policy_set,
        small.requests,
        None,
        "",
        large.compile_ms,
    )
    setups.insert(3, same_traffic)

    rng = random.Random(3)
    gc.collect()
    for _ in range(rounds):
        for setup in setups:
            chunk = rng.sample(setup.requests, ours_chunk)
            time_ours(setup.policy_set, [r for r, _ in chunk], setup.ours)
            if setup.cedar is not None:
                time_cedar(setup.cedar, chunk[:cedar_chunk], setup.theirs)

    rows = [setup.row() for setup in setups]
    table = render(rows)
    goals = check_goals(rows)
    print()
    print(table)
    print()
    print(goals)
    print(f"\n(run took {time.monotonic() - began:.0f} s, {rounds} interleaved rounds)")
    if args.record:
        record(table, goals, checks, rounds)
        print(f"recorded in {RESULTS}")
    return 0


def render(rows: list[dict]) -> str:
    lines = [
        "| rules | actions | engine | median µs | p99 µs | decisions/s | median x vs cedarpy | samples | compile ms | agree |",  # noqa: E501
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        ratio = row["cedar_median"] / row["ours_median"]
        lines.append(
            f"| {row['label']} | {row['actions']} | governance.pdp | {row['ours_median']:.1f} | "
            f"{row['ours_p99']:.1f} | {row['ours_rate']:,.0f} | "
            f"{'' if math.isnan(ratio) else f'{ratio:.1f}x faster'} | "
            f"{row['n'][0]} | {row['compile'][0]:.1f} | {row['agree']} |"
        )
        if math.isnan(ratio):
            continue
        lines.append(
            f"| {row['label']} | {row['actions']} | cedarpy (handles) | {row['cedar_median']:.1f} | "  # noqa: E501
            f"{row['cedar_p99']:.1f} | {row['cedar_rate']:,.0f} | 1.0 | {row['n'][1]} | "
            f"{row['compile'][1]:.1f} | |"
        )
    return "\n".join(lines)


def check_goals(rows: list[dict]) -> str:
    by_label = {row["label"]: row for row in rows}
    at100 = by_label["100"]
    flat = by_label["1000, traffic of 100"]["ours_median"] / at100["ours_median"]
    spread = by_label["1000"]["ours_median"] / at100["ours_median"]
    ratios = {
        row["label"]: row["cedar_median"] / row["ours_median"]
        for row in rows
        if not math.isnan(row["cedar_median"])
    }
    checks = [
        (
            f"median at 100 rules <= 20 µs: {at100['ours_median']:.1f} µs",
            at100["ours_median"] <= 20,
        ),
        (f"p99 at 100 rules <= 100 µs: {at100['ours_p99']:.1f} µs", at100["ours_p99"] <= 100),
        (
            f"flat 100 -> 1000 rules, same traffic (median ratio <= 1.25): {flat:.2f} "
            f"(with traffic spread over 10x more action types: {spread:.2f})",
            flat <= 1.25,
        ),
        (
            ">= 5x faster than cedarpy at every size: "
            + ", ".join(f"{label} {r:.1f}x" for label, r in ratios.items()),
            all(r >= 5 for r in ratios.values()),
        ),
    ]
    return "\n".join(f"- [{'x' if ok else ' '}] {text}" for text, ok in checks)


def record(table: str, goals: str, checks: list[str], rounds: int) -> None:
    """Replace this benchmark's section of RESULTS.md, leaving other sections alone."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = "\n".join(
        [
            START_MARK,
            "## Decision point: `bench/decide`",
            "",
            f"Measured {when} on {machine()}, with `bench/decide --record`.",
            f"{rounds} interleaved rounds, warm caches, one process; latency per call "
            "(perf_counter_ns around each decision); decisions/s = 1 / mean latency on one "
            "core.",
            "",
            table,
            "",
            "Goals (issue #3):",
            "",
            goals,
            "",
            "What was measured:",
            "",
            "* Policy sets grow the way organisations do: about 8 rules per action type (COE "
            "allow within amount cap, currency list and 06:00-20:00; COE approval above a "
            "threshold or for confidential data below L3; COE deny for restricted data below "
            "L3 and for L0/L1 at weekends; four business-unit tightenings: approval above a "
            "lower amount, a currency ban, a soft hourly limit), plus a daily business-unit "
            "budget per domain (`erp.*`, ...) and a `*` log_only monitor. 10 rules cover 1 "
            "action, 100 cover 12, 1000 cover 125. *1000 dense* puts 1000 rules on 10 actions "
            "(about 12 business-unit rules per action and unit). Requests: 2000 random, 80 "
            "agents in 8 units at L0-L3, about 10% asking for an action their role does not "
            "grant.",
            "* *1000, traffic of 100* decides the 100-rule set's requests with the 1000-rule "
            "set: rule count alone, which the index makes irrelevant. The plain *1000* row "
            "also spreads traffic over 10x more action types, which costs some CPU-cache "
            "locality, not rule evaluation (the rules evaluated per decision are the same, "
            "about 6).",
            "* Cross-check (the *agree* column) before timing, three-way:",
            *[f"  * {check}" for check in checks],
            "* Cedar modelling: deny and require_approval rules are `forbid` policies with an "
            "`@id`, COE allow rules are `permit`, each role's grants one `forbid ... unless`; "
            "the timed Cedar path maps the determining policies' ids back to "
            "allow/deny/require_approval (one query, pre-parsed PolicySet and Entities "
            "handles, the payload in the context). When only business-unit approval rules "
            "fire, the cross-check asks a second COE-only policy set whether the COE allowed "
            "the action (business-unit rules only tighten); the timed path skips that query, "
            "which favours cedarpy. log_only rules have no Cedar counterpart and are left "
            "out of the Cedar set. Full method: docstring of `bench/decide_bench.py`.",
            "* cedarpy's cost grows with the size of the set; ours depends on the rules that "
            "can apply to the request (indexed by action, business unit, role and level).",
            END_MARK,
        ]
    )
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if START_MARK in text and END_MARK in text:
        head, rest = text.split(START_MARK, 1)
        tail = rest.split(END_MARK, 1)[1]
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
