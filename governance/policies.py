"""Policies: who may change them, how a draft becomes the published version, and the
compiled policy set the decision point runs.

Every change is one transaction that writes the ledger. Only a draft's rules change;
published and archived versions are immutable. Publishing archives the previous published
version (exactly one is published per policy) and, once committed, bumps the POLICIES
epoch, so every process rebuilds its compiled set on its next decision.

A rule with a limit becomes up to two decision-point rules: "<id>:soft" requires approval
when `context.limits["<id>"]` is over the soft limit, "<id>:hard" denies over the hard one;
each says so in its `limit` (the ids are only names, shown in decisions and the ledger).
The caller measures the counters (governance.limits) from `current_limit_specs()`. A new
draft's copy of a rule keeps the rule's `key`, so its limit keeps counting once published.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from time import monotonic
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Max, QuerySet
from django.utils import timezone

from autonomy.core.principals import is_coe
from governance import epochs, ledger, pdp
from governance.changes import diff, plain, record_change, stamp
from governance.limits import LimitSpec
from governance.models import BusinessUnit, Policy, PolicyVersion, Rule
from governance.models.policies import Effect
from governance.pdp.types import COE
from governance.scoping import BUILD, has_bu_perm

__all__ = [
    "BU_ALLOW_MESSAGE",
    "RESERVED_SLUGS",
    "RULE_FIELDS",
    "VERSION_FIELDS",
    "InvalidState",
    "NotAllowed",
    "add_rule",
    "archive",
    "check_condition",
    "create_draft",
    "create_policy",
    "current_limit_specs",
    "current_policy_set",
    "delete_rule",
    "draft_limit_specs",
    "draft_policy_set",
    "forget_compiled",
    "four_eyes",
    "limit_specs",
    "may_edit",
    "move_rule",
    "publish",
    "request_publication",
    "rules_digest",
    "rules_of",
    "update_policy",
    "update_rule",
    "validate_rule",
]

# The fields of a rule that people write; everything a draft copies from its predecessor.
RULE_FIELDS = (
    "position",
    "name",
    "roles",
    "business_units",
    "agents",
    "autonomy_levels",
    "action_pattern",
    "condition",
    "effect",
    "route",
    "sla_seconds",
    "log_only",
    "reason",
    "limit_metric",
    "limit_scope",
    "limit_window",
    "limit_field",
    "soft_limit",
    "hard_limit",
    "suspend_on_hard_limit",
)
POLICY_FIELDS = ("name", "description")
# A version's fields as people read them (admin, API), in this order.
VERSION_FIELDS = (
    "policy",
    "number",
    "state",
    "notes",
    "created_by",
    "created_at",
    "publish_requested_by",
    "publish_requested_at",
    "published_by",
    "published_at",
    "archived_at",
)
LIMIT_ROUTE = "limits"
# Slugs that name API routes beside /api/v1/policies/<slug>/, so no policy may take them.
RESERVED_SLUGS = frozenset({"decide"})
BU_ALLOW_MESSAGE = (
    "A business-unit rule cannot allow: only the COE's rules allow. Use deny or require_approval."
)
# Safety net: rebuild the compiled set at least this often even if the epoch did not move
# (an epoch lost with its cache can come back at the value this process built from).
MAX_COMPILED_AGE = 300.0

_SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
State = PolicyVersion.State


class NotAllowed(Exception):
    """The principal may not change this policy (the API answers 403; outside scope, 404)."""


class InvalidState(Exception):
    """The version is not in a state this change starts from (the API answers 409)."""


# --- who may see and change policies -------------------------------------------------------


def _is_system(actor) -> bool:
    return isinstance(actor, ledger.Actor) and actor.kind == ledger.Actor.system().kind


def may_edit(actor, policy: Policy) -> bool:
    """COE staff edit every policy; a business unit's builders edit that unit's policies.
    System actors (seeding, shipped templates) may edit all."""
    if _is_system(actor) or is_coe(actor):
        return True
    if policy.business_unit_id is None:
        return False
    return has_bu_perm(actor, BUILD, policy.business_unit_id)


def _require_edit(actor, policy: Policy) -> None:
    if not may_edit(actor, policy):
        if policy.business_unit_id is None:
            raise NotAllowed("Only COE staff may change the COE's policies.")
        raise NotAllowed(
            f"Only builders of {policy.business_unit} and COE staff may change its policies."
        )


def _snapshot(rule: Rule) -> dict:
    """A rule as the ledger keeps it: its fields and its key (which limit counts it keeps
    across versions, see Rule.key)."""
    return {"key": str(rule.key), **{name: plain(getattr(rule, name)) for name in RULE_FIELDS}}


# --- validation ----------------------------------------------------------------------------


def _owner(rule: Rule) -> str:
    return rule.version.policy.owner


def _number(value: Decimal) -> str:
    """A threshold as a CEL number literal (never in exponent notation)."""
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def _over(rule: Rule, rule_id: Any, threshold: Decimal) -> str:
    test = f'context.limits["{rule_id}"] > {_number(threshold)}'
    if not rule.condition.strip():
        return test
    # A newline before ")" so a trailing // comment in the rule's condition ends there.
    return f"({rule.condition}\n) && {test}"


def _describe_limit(rule: Rule, threshold: Decimal) -> str:
    what = {
        Rule.LimitMetric.ACTIONS: "actions",
        Rule.LimitMetric.PAYLOAD_SUM: f"of payload.{rule.limit_field}",
        Rule.LimitMetric.SPEND: "of spend",
        Rule.LimitMetric.TOKENS: "tokens",
    }[rule.limit_metric]
    per = "agent" if rule.limit_scope == Rule.LimitScope.AGENT else "business unit"
    return f"{_number(threshold)} {what} per {rule.limit_window} per {per}"


def _translate(rule: Rule, rule_id: Any, owner: str, version_id: Any) -> list[pdp.Rule]:
    """The decision-point rules one stored rule stands for (two for a soft+hard limit)."""
    common = {
        "action_pattern": rule.action_pattern,
        "scope": pdp.Scope(
            roles=frozenset(rule.roles),
            business_units=frozenset(rule.business_units),
            agents=frozenset(rule.agents),
            autonomy_levels=frozenset(rule.autonomy_levels),
        ),
        "owner": owner,
        "policy_version_id": version_id,
        "log_only": rule.log_only,
    }
    if not rule.limit_metric:
        return [
            pdp.Rule(
                id=rule_id,
                name=rule.name,
                effect=rule.effect,
                condition=rule.condition,
                route=rule.route,
                sla_seconds=rule.sla_seconds,
                reason=rule.reason,
                **common,
            )
        ]
    out = []
    if rule.soft_limit is not None:
        out.append(
            pdp.Rule(
                id=f"{rule_id}:soft",
                name=f"{rule.name} (soft limit)",
                effect=pdp.Effect.REQUIRE_APPROVAL,
                condition=_over(rule, rule_id, rule.soft_limit),
                route=rule.route or LIMIT_ROUTE,
                sla_seconds=rule.sla_seconds,
                reason=rule.reason
                or f"over the soft limit of {_describe_limit(rule, rule.soft_limit)}",
                limit=pdp.LimitCheck(rule_id, pdp.LimitKind.SOFT),
                **common,
            )
        )
    if rule.hard_limit is not None:
        out.append(
            pdp.Rule(
                id=f"{rule_id}:hard",
                name=f"{rule.name} (hard limit)",
                effect=pdp.Effect.DENY,
                condition=_over(rule, rule_id, rule.hard_limit),
                reason=rule.reason
                or f"over the hard limit of {_describe_limit(rule, rule.hard_limit)}",
                limit=pdp.LimitCheck(rule_id, pdp.LimitKind.HARD),
                **common,
            )
        )
    return out


def _scope_errors(rule: Rule) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for name in ("roles", "business_units", "agents"):
        value = getattr(rule, name)
        if not isinstance(value, list) or not all(
            isinstance(item, str) and _SLUG.match(item) for item in value
        ):
            errors[name] = ['A list of slugs, such as ["buyer"]; empty means all.']
    levels = rule.autonomy_levels
    if not isinstance(levels, list) or not all(
        type(level) is int and 0 <= level <= 3 for level in levels
    ):
        errors["autonomy_levels"] = ["A list of autonomy levels from 0 to 3; empty means all."]
    return errors


def _effect_errors(rule: Rule) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if rule.limit_metric:
        if rule.effect == Effect.ALLOW:
            errors["effect"] = [
                "A limit rule cannot allow: over its soft limit it requires approval, "
                "over its hard limit it denies."
            ]
        if rule.soft_limit is None and (rule.route or rule.sla_seconds is not None):
            errors["route" if rule.route else "sla_seconds"] = [
                "The route and SLA apply to approvals over the soft limit; "
                "set a soft limit or clear them."
            ]
        return errors
    approval = rule.effect == Effect.REQUIRE_APPROVAL
    if approval and not rule.route.strip():
        errors["route"] = ["A rule that requires approval needs a route: the queue to ask."]
    if not approval and rule.route:
        errors["route"] = ["Only a require_approval rule has a route."]
    if not approval and rule.sla_seconds is not None:
        errors["sla_seconds"] = ["An SLA applies only to a require_approval rule."]
    return errors


def _limit_errors(rule: Rule) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    soft, hard = rule.soft_limit, rule.hard_limit
    if not rule.limit_metric:
        for name in ("soft_limit", "hard_limit"):
            if getattr(rule, name) is not None:
                errors[name] = ["Choose a limit metric, or clear the limit."]
        if rule.limit_field:
            errors["limit_field"] = ["Only a payload_sum limit adds up a payload field."]
        if rule.suspend_on_hard_limit:
            errors["suspend_on_hard_limit"] = ["Only a rule with a hard limit can suspend."]
        return errors
    if soft is None and hard is None:
        errors["soft_limit"] = ["A limit needs a soft limit, a hard limit, or both."]
    for name, value in (("soft_limit", soft), ("hard_limit", hard)):
        if value is not None and value < 0:
            errors[name] = ["A limit cannot be negative."]
    if soft is not None and hard is not None and soft >= hard and "soft_limit" not in errors:
        errors["soft_limit"] = ["The soft limit must be lower than the hard limit."]
    if rule.limit_metric == Rule.LimitMetric.PAYLOAD_SUM:
        if not rule.limit_field:
            errors["limit_field"] = ["Name the payload field to add up, such as amount."]
        elif not _FIELD.match(rule.limit_field):
            errors["limit_field"] = ["A payload field name, such as amount or totals.net."]
    elif rule.limit_field:
        errors["limit_field"] = ["Only a payload_sum limit adds up a payload field."]
    if rule.suspend_on_hard_limit and hard is None:
        errors["suspend_on_hard_limit"] = ["Only a rule with a hard limit can suspend."]
    return errors


def _compile_message(exc: pdp.PolicyCompileError) -> str:
    if exc.line is not None:
        return f"line {exc.line}, column {exc.column}: {exc.message}"
    return exc.message


def _federation_errors(rule: Rule, owner: str) -> dict[str, list[str]]:
    """Monotonic federation in words for a form; the decision point's own check
    (check_bu_rule, through check_rule) runs on the translated rules after this."""
    if owner == COE:
        return {}
    errors: dict[str, list[str]] = {}
    # A limit rule's own effect never reaches the decision point: its limits deny or
    # require approval (and a limit rule that says allow is refused for that reason).
    if rule.effect == Effect.ALLOW and not rule.limit_metric:
        errors["effect"] = [BU_ALLOW_MESSAGE]
    if isinstance(rule.business_units, list):
        others = sorted({str(unit) for unit in rule.business_units} - {owner})
        if others:
            errors["business_units"] = [
                f"A business-unit rule applies only inside its own unit ({owner}); "
                f"remove {', '.join(others)}."
            ]
    return errors


def _pdp_errors(exc: pdp.PolicyCompileError) -> dict[str, list[str]]:
    """A decision-point refusal of a translated rule, on the form field it concerns."""
    if isinstance(exc, pdp.FederationError):
        if exc.field == "effect":
            return {"effect": [BU_ALLOW_MESSAGE]}
        return {"business_units": [exc.message]}
    if exc.field in RULE_FIELDS:
        return {exc.field: [_compile_message(exc)]}
    return {"autonomy_levels" if exc.field == "scope" else "condition": [_compile_message(exc)]}


def validate_rule(rule: Rule) -> None:
    """Raise ValidationError, by field, unless `rule` could be published as it stands: field
    values, scope lists, a valid action pattern, a CEL condition that compiles ("line L,
    column C: ..."), effect/route/SLA and limit fields that agree, and monotonic federation
    (a business unit's rule only denies or requires approval, only inside its unit)."""
    errors: dict[str, list[str]] = {}
    try:
        rule.full_clean(exclude=["version"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    owner = _owner(rule)
    for found in (
        _federation_errors(rule, owner),
        _scope_errors(rule),
        _effect_errors(rule),
        _limit_errors(rule),
    ):
        for name, messages in found.items():
            errors.setdefault(name, messages)
    if "action_pattern" not in errors and not pdp.is_valid_pattern(rule.action_pattern):
        errors["action_pattern"] = [
            "Dotted lowercase names with * for one segment, ending in .* for many "
            "(such as erp.purchase_order.*)."
        ]
    if "condition" not in errors:
        try:
            check_condition(rule.condition)
        except pdp.PolicyCompileError as exc:
            errors["condition"] = [_compile_message(exc)]
    if errors:
        raise ValidationError(errors)
    if owner == COE and rule.business_units:
        known = set(
            BusinessUnit.objects.filter(slug__in=rule.business_units).values_list("slug", flat=True)
        )
        unknown = sorted(set(rule.business_units) - known)
        if unknown:
            raise ValidationError(
                {"business_units": [f"No business unit named {', '.join(unknown)}."]}
            )
    for item in _translate(rule, rule.pk or "new", owner, rule.version_id):
        try:
            pdp.check_rule(item)
        except pdp.PolicyCompileError as exc:
            raise ValidationError(_pdp_errors(exc)) from exc


def check_condition(condition: str) -> None:
    """Raise PolicyCompileError (with line and column) unless `condition` would compile as a
    rule's condition: the check a rule gets at save time, for the editor as you type."""
    probe = pdp.Rule(id="new", name="", action_pattern="*", effect="deny")
    pdp.check_rule(_replace_condition(probe, condition))


def _replace_condition(rule: pdp.Rule, condition: str) -> pdp.Rule:
    return pdp.Rule(
        id=rule.id,
        name=rule.name,
        action_pattern=rule.action_pattern,
        effect=rule.effect,
        condition=condition,
    )


# --- services ------------------------------------------------------------------------------


@transaction.atomic
def create_policy(
    actor,
    slug: str,
    name: str,
    description: str = "",
    business_unit: BusinessUnit | None = None,
) -> Policy:
    """Create a policy with an empty draft v1. The COE's policies (no business unit) are
    created by COE staff; a unit's by its builders or COE staff."""
    policy = Policy(slug=slug, name=name, description=description, business_unit=business_unit)
    _require_edit(actor, policy)
    if slug in RESERVED_SLUGS:
        raise ValidationError({"slug": [f"{slug!r} is reserved for the API; choose another."]})
    policy.full_clean()
    stamp(policy, actor)
    policy.save()
    version = PolicyVersion(policy=policy, number=1, created_by=_user_or_none(actor))
    stamp(version, actor)
    version.save()
    ledger.record(
        "policy.created",
        ledger.Actor.of(actor),
        policy,
        data={"slug": slug, "name": name, "owner": policy.owner, "draft": version.number},
    )
    return policy


@transaction.atomic
def update_policy(actor, policy: Policy, **changes: Any) -> Policy:
    """Change a policy's name or description; its slug and owner are fixed."""
    _only(changes, POLICY_FIELDS, "not editable")
    locked = Policy.objects.select_for_update().get(pk=policy.pk)
    _require_edit(actor, locked)
    if changed := _save_changes(actor, locked, changes, Policy.full_clean):
        record_change("policy.updated", actor, locked, changed)
    return locked


def _only(fields, allowed, refusal: str) -> None:
    if unknown := sorted(set(fields) - set(allowed)):
        raise ValueError(f"{refusal}: {', '.join(unknown)}")


def _save_changes(actor, obj, changes: dict, check) -> dict:
    """Set on `obj` those of `changes` that differ, `check` it whole and save just those
    fields; what changed, before and after (empty: nothing saved)."""
    changed = diff({name: getattr(obj, name) for name in changes}, changes)
    if changed:
        for name in changed:
            setattr(obj, name, changes[name])
        check(obj)
        stamp(obj, actor)
        obj.save(update_fields=list(changed))
    return changed


def _user_or_none(actor):
    return actor if isinstance(actor, get_user_model()) else None


@transaction.atomic
def create_draft(actor, policy: Policy, notes: str = "") -> PolicyVersion:
    """Start the next version as a draft holding a copy of the published version's rules.
    A policy has at most one draft at a time."""
    locked = Policy.objects.select_for_update().get(pk=policy.pk)
    _require_edit(actor, locked)
    draft = locked.versions.filter(state=State.DRAFT).first()
    if draft is not None:
        raise InvalidState(
            f"{locked} already has a draft (v{draft.number}): edit and publish it, "
            "or archive it to start over."
        )
    published = locked.versions.filter(state=State.PUBLISHED).first()
    number = (locked.versions.aggregate(last=Max("number"))["last"] or 0) + 1
    version = PolicyVersion(
        policy=locked, number=number, notes=notes, created_by=_user_or_none(actor)
    )
    stamp(version, actor)
    version.save()
    copied = 0
    if published is not None:
        for rule in published.rules.all():
            # The copy keeps the rule's key: its limit counters carry on after publishing.
            copy = Rule(
                version=version,
                key=rule.key,
                **{name: getattr(rule, name) for name in RULE_FIELDS},
            )
            stamp(copy, actor)
            copy.save()
            copied += 1
    ledger.record(
        "policy.draft_created",
        ledger.Actor.of(actor),
        version,
        business_unit_id=locked.business_unit_id,
        data={
            "policy": locked.slug,
            "version": number,
            "copied_from": published.number if published else None,
            "rules": copied,
        },
    )
    return version


def _lock_version(version: PolicyVersion) -> PolicyVersion:
    """The version, locked, with its policy locked first. Every change to a version locks
    in this order (policy row, then version rows), so concurrent publishes, archives and
    edits of one policy wait for each other instead of deadlocking; the later ones then
    see the state the first left (InvalidState: the API's 409)."""
    policy = Policy.objects.select_for_update().get(pk=version.policy_id)
    locked = PolicyVersion.objects.select_for_update().get(pk=version.pk)
    locked.policy = policy
    return locked


def _lock_draft(actor, version: PolicyVersion) -> PolicyVersion:
    """The version, locked (policy first), if `actor` may edit it and it is still a draft."""
    locked = _lock_version(version)
    _require_edit(actor, locked.policy)
    if locked.state != State.DRAFT:
        raise InvalidState(
            f"{locked.policy} v{locked.number} is {locked.state} and cannot change: "
            "create a new draft to edit its rules."
        )
    return locked


@transaction.atomic
def add_rule(actor, version: PolicyVersion, **fields: Any) -> Rule:
    """Add a validated rule to a draft (at the end unless `position` is given)."""
    _only(fields, RULE_FIELDS, "not rule fields")
    locked = _lock_draft(actor, version)
    if "position" not in fields:
        last = locked.rules.aggregate(last=Max("position"))["last"]
        fields["position"] = 0 if last is None else last + 1
    rule = Rule(version=locked, **fields)
    validate_rule(rule)
    stamp(rule, actor)
    rule.save()
    ledger.record(
        "policy.rule_added",
        ledger.Actor.of(actor),
        rule,
        business_unit_id=locked.policy.business_unit_id,
        data={"policy": locked.policy.slug, "version": locked.number, **_snapshot(rule)},
    )
    return rule


@transaction.atomic
def update_rule(actor, rule: Rule, **changes: Any) -> Rule:
    """Change a draft's rule; the result is validated as a whole before it is saved."""
    _only(changes, RULE_FIELDS, "not rule fields")
    version = _lock_draft(actor, rule.version)
    current = Rule.objects.select_for_update().get(pk=rule.pk)
    current.version = version
    if changed := _save_changes(actor, current, changes, validate_rule):
        record_change(
            "policy.rule_updated",
            actor,
            current,
            changed,
            business_unit_id=version.policy.business_unit_id,
            policy=version.policy.slug,
            version=version.number,
        )
    return current


@transaction.atomic
def move_rule(actor, rule: Rule, position: int) -> Rule:
    """Move a draft's rule to `position` (0-based, clamped to the rules there are); the
    draft's rules are numbered 0, 1, 2... again in their new order."""
    version = _lock_draft(actor, rule.version)
    ordered = list(version.rules.select_for_update().order_by("position", "id"))
    moving = next((r for r in ordered if r.pk == rule.pk), None)
    if moving is None:
        raise InvalidState("This rule is no longer part of the draft.")
    before = ordered.index(moving)
    ordered.remove(moving)
    after = max(0, min(position, len(ordered)))
    ordered.insert(after, moving)
    if after == before:
        return moving
    for number, item in enumerate(ordered):
        if item.position != number:
            item.position = number
            stamp(item, actor)
            item.save(update_fields=["position"])
    ledger.record(
        "policy.rule_moved",
        ledger.Actor.of(actor),
        moving,
        business_unit_id=version.policy.business_unit_id,
        data={
            "policy": version.policy.slug,
            "version": version.number,
            "name": moving.name,
            "from": before,
            "to": after,
        },
    )
    return moving


@transaction.atomic
def delete_rule(actor, rule: Rule) -> None:
    """Remove a rule from a draft."""
    version = _lock_draft(actor, rule.version)
    current = Rule.objects.get(pk=rule.pk)
    snapshot = _snapshot(current)
    ledger.record(
        "policy.rule_deleted",
        ledger.Actor.of(actor),
        current,
        business_unit_id=version.policy.business_unit_id,
        data={"policy": version.policy.slug, "version": version.number, **snapshot},
    )
    stamp(current, actor)
    current.delete()


def four_eyes(actor) -> bool:
    """Whether publishing by `actor` needs another person's request first: with
    AUTONOMY_POLICY_FOUR_EYES on, for every person (system actors seed and ship policies)."""
    return bool(settings.AUTONOMY_POLICY_FOUR_EYES) and not _is_system(actor)


def rules_digest(version: PolicyVersion) -> str:
    """A digest of a version's rules as they stand (fields and keys, in order)."""
    snapshots = [_snapshot(rule) for rule in version.rules.order_by("position", "id")]
    text = json.dumps(snapshots, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _validated_rules(locked: PolicyVersion) -> list[Rule]:
    """The draft's rules, each validated; ValidationError naming every problem."""
    problems = []
    rules = list(locked.rules.all())
    for rule in rules:
        rule.version = locked
        try:
            validate_rule(rule)
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                problems.extend(f"rule {rule.name!r}: {name}: {m}" for m in messages)
    if problems:
        raise ValidationError({"rules": problems})
    return rules


@transaction.atomic
def request_publication(actor, version: PolicyVersion) -> PolicyVersion:
    """Ask for a draft to be published (four eyes): its rules are validated now, and
    another person who may edit the policy approves by publishing it unchanged."""
    locked = _lock_draft(actor, version)
    _validated_rules(locked)
    user = _user_or_none(actor)
    if user is None:
        raise NotAllowed("Only a person can request a publication.")
    locked.publish_requested_by = user
    locked.publish_requested_at = timezone.now()
    locked.publish_request_digest = rules_digest(locked)
    stamp(locked, actor)
    locked.save(
        update_fields=["publish_requested_by", "publish_requested_at", "publish_request_digest"]
    )
    ledger.record(
        "policy.publish_requested",
        ledger.Actor.of(actor),
        locked,
        business_unit_id=locked.policy.business_unit_id,
        data={
            "policy": locked.policy.slug,
            "version": locked.number,
            "digest": locked.publish_request_digest,
        },
    )
    return locked


def _check_four_eyes(actor, locked: PolicyVersion) -> dict:
    """Refuse a publish that four eyes do not cover; the request's facts for the ledger."""
    if not four_eyes(actor):
        return {}
    requester = locked.publish_requested_by
    if requester is None:
        raise InvalidState(
            "Four eyes: request publication first; another COE member then approves it."
        )
    if requester.pk == getattr(actor, "pk", None):
        raise NotAllowed("You requested this publication: another COE member must approve it.")
    if locked.publish_request_digest != rules_digest(locked):
        raise InvalidState(
            "The draft's rules changed after publication was requested: request it again."
        )
    return {"requested_by": requester.get_username(), "approved_by": actor.get_username()}


@transaction.atomic
def publish(actor, version: PolicyVersion) -> PolicyVersion:
    """Publish a draft: every rule is validated first; with four eyes, only another person
    than the one who requested it publishes it, and only as requested; the previous
    published version is archived; every process picks up the change on its next decision
    (epoch, on commit)."""
    locked = _lock_draft(actor, version)
    policy = locked.policy
    approval = _check_four_eyes(actor, locked)
    rules = _validated_rules(locked)
    now = timezone.now()
    previous = policy.versions.select_for_update().filter(state=State.PUBLISHED).first()
    if previous is not None:
        previous.state = State.ARCHIVED
        previous.archived_at = now
        stamp(previous, actor)
        previous.save(update_fields=["state", "archived_at"])
    locked.state = State.PUBLISHED
    locked.published_at = now
    locked.published_by = _user_or_none(actor)
    stamp(locked, actor)
    locked.save(update_fields=["state", "published_at", "published_by"])
    ledger.record(
        "policy.published",
        ledger.Actor.of(actor),
        locked,
        business_unit_id=policy.business_unit_id,
        data={
            "policy": policy.slug,
            "version": locked.number,
            "archived": previous.number if previous else None,
            "rules": len(rules),
            **approval,
        },
    )
    epochs.bump_on_commit(epochs.POLICIES)
    return locked


@transaction.atomic
def archive(actor, version: PolicyVersion) -> PolicyVersion:
    """Archive a draft (discard it) or the published version (the policy then has none, and
    its rules stop applying in every process on their next decision)."""
    locked = _lock_version(version)
    _require_edit(actor, locked.policy)
    if locked.state == State.ARCHIVED:
        raise InvalidState(f"{locked.policy} v{locked.number} is already archived.")
    was = locked.state
    locked.state = State.ARCHIVED
    locked.archived_at = timezone.now()
    stamp(locked, actor)
    locked.save(update_fields=["state", "archived_at"])
    ledger.record(
        "policy.archived",
        ledger.Actor.of(actor),
        locked,
        business_unit_id=locked.policy.business_unit_id,
        data={"policy": locked.policy.slug, "version": locked.number, "was": was},
    )
    if was == State.PUBLISHED:
        epochs.bump_on_commit(epochs.POLICIES)
    return locked


# --- compilation ---------------------------------------------------------------------------


def _rules_of_versions(versions: Iterable[PolicyVersion]) -> list[Rule]:
    if not isinstance(versions, QuerySet):
        versions = [version.pk for version in versions]
    return list(
        Rule.objects.filter(version__in=versions)
        .select_related("version__policy__business_unit")
        .order_by(
            F("version__policy__business_unit").asc(nulls_first=True),
            "version__policy__slug",
            "position",
            "id",
        )
    )


def _pdp_rules(stored: Iterable[Rule]) -> list[pdp.Rule]:
    out: list[pdp.Rule] = []
    for rule in stored:
        out.extend(_translate(rule, rule.pk, rule.version.policy.owner, rule.version_id))
    return out


def _limit_specs(stored: Iterable[Rule]) -> list[LimitSpec]:
    out = []
    for rule in stored:
        if not rule.limit_metric:
            continue
        owner = rule.version.policy.owner
        units = frozenset(rule.business_units) if owner == COE else frozenset({owner})
        out.append(
            LimitSpec(
                rule_id=rule.pk,
                policy_id=rule.version.policy_id,
                rule_key=rule.key.hex,
                action_pattern=rule.action_pattern,
                metric=rule.limit_metric,
                scope=rule.limit_scope,
                window=rule.limit_window,
                field=rule.limit_field,
                soft=rule.soft_limit,
                hard=rule.hard_limit,
                suspend_on_hard=rule.suspend_on_hard_limit,
                roles=frozenset(rule.roles),
                business_units=units,
                agents=frozenset(rule.agents),
                autonomy_levels=frozenset(rule.autonomy_levels),
            )
        )
    return out


def rules_of(versions: Iterable[PolicyVersion]) -> list[pdp.Rule]:
    """The decision-point rules of these versions: the COE's policies first, then by policy
    slug and rule position; a limit rule gives its ":soft" and ":hard" rules."""
    return _pdp_rules(_rules_of_versions(versions))


def limit_specs(versions: Iterable[PolicyVersion]) -> list[LimitSpec]:
    """What the limit rules of these versions count. A business unit's limit only ever
    counts inside that unit, as the decision point applies its rules."""
    return _limit_specs(_rules_of_versions(versions))


@dataclass(frozen=True, slots=True)
class _Published:
    epoch: int
    built_at: float
    policy_set: pdp.CompiledPolicySet
    limit_specs: tuple[LimitSpec, ...]


_published: _Published | None = None
_lock = threading.Lock()


def _fresh(found: _Published | None, epoch: int) -> bool:
    return (
        found is not None
        and found.epoch == epoch
        and monotonic() - found.built_at < MAX_COMPILED_AGE
    )


def _current() -> _Published:
    """The published rules compiled in this process, rebuilt when the epoch moves."""
    global _published
    epoch = epochs.current(epochs.POLICIES)[epochs.POLICIES]
    found = _published
    if _fresh(found, epoch):
        return found  # type: ignore[return-value]
    with _lock:
        found = _published
        if not _fresh(found, epoch):
            stored = _rules_of_versions(PolicyVersion.objects.filter(state=State.PUBLISHED))
            found = _Published(
                epoch,
                monotonic(),
                pdp.CompiledPolicySet(_pdp_rules(stored)),
                tuple(_limit_specs(stored)),
            )
            _published = found
        return found


def current_policy_set() -> pdp.CompiledPolicySet:
    """Every published version's rules, compiled once per POLICIES epoch and process."""
    return _current().policy_set


def current_limit_specs() -> tuple[LimitSpec, ...]:
    """The limits of every published version, from the same build as current_policy_set()."""
    return _current().limit_specs


def forget_compiled() -> None:
    """Drop this process's compiled set; the next decision rebuilds it from the database."""
    global _published
    with _lock:
        _published = None


def draft_policy_set(version: PolicyVersion) -> pdp.CompiledPolicySet:
    """The published set with `version` in place of its policy's published version: what
    deciding would be if it were published (for the impact preview). Compiled once per
    distinct content. Raises PolicyCompileError if a rule does not compile."""
    others = PolicyVersion.objects.filter(state=State.PUBLISHED).exclude(
        policy_id=version.policy_id
    )
    rules = tuple(rules_of([*others, version]))
    return pdp.get_compiled(("draft", version.pk, rules), lambda: rules)


def draft_limit_specs(version: PolicyVersion) -> tuple[LimitSpec, ...]:
    """The published limits with `version`'s in place of its policy's: what would count if
    it were published (its copies of rules keep their counters, see Rule.key)."""
    others = [spec for spec in current_limit_specs() if spec.policy_id != version.policy_id]
    return (*others, *limit_specs([version]))
