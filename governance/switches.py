"""Kill switches: freeze a business unit or block an action pattern everywhere, at once.

Engaging and releasing are services: one transaction, a ledger entry naming who and why,
and a bump of epochs.SWITCHES after commit. `blocking_switch()` answers from an in-process
copy of the active switches that is rebuilt whenever that epoch changes, so a switch takes
effect on the next request in every web and worker process (one cache round trip per check).
The third kill switch, suspending an agent, is the agent lifecycle (agents.services).

Who may act: COE staff engage and release anything. A business unit's supervisors may freeze
their own unit, and release a freeze of their unit that was not engaged by COE staff (the
COE's emergency stop stays until the COE lifts it).
"""

import threading
import time
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from autonomy.core.principals import is_agent, is_coe
from governance import epochs, ledger
from governance.models import BusinessUnit, KillSwitch
from governance.pdp import is_valid_pattern, pattern_matches
from governance.scoping import SUPERVISE, has_bu_perm

__all__ = [
    "ActiveSwitch",
    "AlreadyDone",
    "InvalidSwitch",
    "NotAllowed",
    "SwitchError",
    "active_switches",
    "blocking_switch",
    "engage_block",
    "engage_freeze",
    "may_block",
    "may_freeze",
    "may_release",
    "release",
]

REASON_MAX = 2000
PATTERN_MAX = 200  # KillSwitch.action_pattern's length
# Even with no epoch change seen (say the cache lost the epoch key and counted back up to
# the value this process saw), the in-process copy is never older than this.
_MAX_AGE_SECONDS = 30.0


class SwitchError(Exception):
    """A switch change refused; `field` names the input at fault, if any."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotAllowed(SwitchError):
    """The person may not do this."""


class InvalidSwitch(SwitchError):
    """The input is not acceptable (no reason, a bad pattern); nothing changed."""


class AlreadyDone(SwitchError):
    """The unit is already frozen, the pattern already blocked, or the switch released."""


@dataclass(frozen=True, slots=True)
class ActiveSwitch:
    """An engaged switch as the hot path sees it: plain values, no database access."""

    id: int
    kind: str
    business_unit: str  # slug, for freezes
    action_pattern: str  # for blocks
    reason: str
    engaged_at: datetime

    def blocks(self, business_unit_slug: str, action: str) -> bool:
        """Whether this switch stops `action` of an agent in that business unit."""
        if self.kind == KillSwitch.Kind.FREEZE_BUSINESS_UNIT:
            return self.business_unit == business_unit_slug
        return pattern_matches(self.action_pattern, action)


def _is_person(user) -> bool:
    return user is not None and user.is_authenticated and not is_agent(user)


def may_freeze(user, business_unit: BusinessUnit) -> bool:
    """COE staff, or a supervisor of that business unit."""
    return _is_person(user) and (is_coe(user) or has_bu_perm(user, SUPERVISE, business_unit.pk))


def may_block(user) -> bool:
    """Blocking an action pattern everywhere is for COE staff only."""
    return is_coe(user)


def may_release(user, switch: KillSwitch) -> bool:
    """COE staff; or a supervisor of a frozen unit, for a freeze no COE member engaged."""
    if not _is_person(user):
        return False
    if is_coe(user):
        return True
    if switch.kind != KillSwitch.Kind.FREEZE_BUSINESS_UNIT:
        return False
    if switch.engaged_by is None or is_coe(switch.engaged_by):
        return False
    return has_bu_perm(user, SUPERVISE, switch.business_unit_id)


def _reason(reason: str | None, field: str = "reason") -> str:
    text = (reason or "").strip()
    if not text:
        raise InvalidSwitch("A reason is required: say why, for the ledger.", field)
    if len(text) > REASON_MAX:
        raise InvalidSwitch(f"The reason is too long (at most {REASON_MAX} characters).", field)
    return text


def _entry(verb: str, user, switch: KillSwitch, reason: str) -> None:
    ledger.record(
        verb,
        ledger.Actor.of(user),
        switch,
        business_unit_id=switch.business_unit_id,
        data={
            "kind": switch.kind,
            "business_unit": switch.business_unit.slug if switch.business_unit_id else "",
            "action_pattern": switch.action_pattern,
            "reason": reason,
        },
    )


def _engage(user, reason: str, already: AlreadyDone, **what) -> KillSwitch:
    """Engage the switch `what` describes (its kind and target), recorded in the ledger;
    `already` is raised when the same switch is engaged."""
    if KillSwitch.objects.filter(**what, active=True).exists():
        raise already
    switch = KillSwitch.objects.create(
        **what, reason=reason, engaged_by=user, engaged_at=timezone.now()
    )
    _entry("kill_switch.engaged", user, switch, reason)
    epochs.bump_on_commit(epochs.SWITCHES)
    return switch


@transaction.atomic
def engage_freeze(user, business_unit: BusinessUnit, reason: str) -> KillSwitch:
    """Freeze a business unit: none of its agents' actions runs until released."""
    if not may_freeze(user, business_unit):
        raise NotAllowed("Only COE staff and this business unit's supervisors may freeze it.")
    text = _reason(reason)
    # Lock the unit so that two people freezing it at once make one switch, not two.
    unit = BusinessUnit.objects.select_for_update().get(pk=business_unit.pk)
    return _engage(
        user,
        text,
        AlreadyDone(f"{unit.name} is already frozen.", "business_unit"),
        kind=KillSwitch.Kind.FREEZE_BUSINESS_UNIT,
        business_unit=unit,
    )


@transaction.atomic
def engage_block(user, action_pattern: str, reason: str) -> KillSwitch:
    """Block an action pattern (`erp.payment.*`, or `*` for everything) in every unit."""
    if not may_block(user):
        raise NotAllowed("Only COE staff may block an action pattern.")
    pattern = (action_pattern or "").strip()
    if len(pattern) > PATTERN_MAX or not is_valid_pattern(pattern):
        raise InvalidSwitch(
            "Give an action pattern: dotted lowercase names with optional * segments, "
            "such as erp.purchase_order.* (or * for every action).",
            "action_pattern",
        )
    text = _reason(reason)
    # Two identical blocks engaged at the same instant are both kept: harmless, each stops
    # the same actions and each is released on its own.
    return _engage(
        user,
        text,
        AlreadyDone(f"{pattern} is already blocked.", "action_pattern"),
        kind=KillSwitch.Kind.BLOCK_ACTION,
        action_pattern=pattern,
    )


@transaction.atomic
def release(user, switch: KillSwitch, reason: str) -> KillSwitch:
    """Release an engaged switch; the row is locked so that two releases make one."""
    locked = (
        KillSwitch.objects.select_for_update(of=("self",))
        .select_related("business_unit", "engaged_by")
        .get(pk=switch.pk)
    )
    if not may_release(user, locked):
        raise NotAllowed(
            "Only COE staff may release this switch; supervisors may release freezes of "
            "their own unit that no COE member engaged."
        )
    text = _reason(reason)
    if not locked.active:
        raise AlreadyDone("This switch was already released.")
    locked.active = False
    locked.released_by = user
    locked.released_at = timezone.now()
    locked.release_reason = text
    locked.save(update_fields=["active", "released_by", "released_at", "release_reason"])
    _entry("kill_switch.released", user, locked, text)
    epochs.bump_on_commit(epochs.SWITCHES)
    return locked


class _ActiveCache:
    """This process's copy of the active switches, tagged with the epoch it was read at."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.epoch: int | None = None
        self.loaded_at = 0.0
        self.switches: tuple[ActiveSwitch, ...] = ()

    def get(self) -> tuple[ActiveSwitch, ...]:
        epoch = epochs.current(epochs.SWITCHES)[epochs.SWITCHES]
        fresh = time.monotonic() - self.loaded_at < _MAX_AGE_SECONDS
        if epoch == self.epoch and fresh:
            return self.switches
        with self.lock:
            if epoch != self.epoch or time.monotonic() - self.loaded_at >= _MAX_AGE_SECONDS:
                # Read the epoch before the rows: a switch committed in between bumps the
                # epoch again, so the next call reloads.
                self.switches = _load_active()
                self.epoch = epoch
                self.loaded_at = time.monotonic()
            return self.switches


def _load_active() -> tuple[ActiveSwitch, ...]:
    rows = KillSwitch.objects.filter(active=True).select_related("business_unit")
    return tuple(
        ActiveSwitch(
            id=row.pk,
            kind=row.kind,
            business_unit=row.business_unit.slug if row.business_unit_id else "",
            action_pattern=row.action_pattern,
            reason=row.reason,
            engaged_at=row.engaged_at,
        )
        for row in rows.order_by("engaged_at", "pk")
    )


_active = _ActiveCache()


def active_switches() -> tuple[ActiveSwitch, ...]:
    """Every engaged switch, as of the current SWITCHES epoch."""
    return _active.get()


def blocking_switch(business_unit_slug: str, action: str) -> ActiveSwitch | None:
    """The oldest engaged switch that stops `action` for an agent of that unit, or None."""
    for switch in _active.get():
        if switch.blocks(business_unit_slug, action):
            return switch
    return None
