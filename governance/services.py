"""State changes of governance objects. Each call is one transaction that writes the ledger."""

from django.contrib.auth import get_user_model
from django.db import transaction
from guardian.shortcuts import assign_perm, remove_perm

from autonomy.core.principals import coe_group
from governance import ledger
from governance.models import BusinessUnit, MemberRole, Membership
from governance.scoping import AUDIT, BUILD, PERMISSION, SUPERVISE, VIEW

__all__ = ["add_membership", "create_business_unit", "make_coe", "remove_membership"]

User = get_user_model()

# The object permissions a membership role grants on its business unit.
PERMS = {
    MemberRole.BUILDER: [PERMISSION[VIEW], PERMISSION[BUILD]],
    MemberRole.SUPERVISOR: [PERMISSION[VIEW], PERMISSION[SUPERVISE]],
    MemberRole.AUDITOR: [PERMISSION[VIEW], PERMISSION[AUDIT]],
}


@transaction.atomic
def create_business_unit(actor, *, slug: str, name: str, description: str = "") -> BusinessUnit:
    """Create a business unit (COE only; callers check) and record it."""
    unit = BusinessUnit.objects.create(slug=slug, name=name, description=description)
    ledger.record(
        "business_unit.created",
        ledger.Actor.of(actor),
        unit,
        business_unit_id=unit.pk,
        data={"slug": slug, "name": name},
    )
    return unit


@transaction.atomic
def add_membership(actor, user, business_unit: BusinessUnit, role: str) -> Membership:
    """Give `user` a role in a business unit, with the object permissions it implies."""
    membership, created = Membership.objects.get_or_create(
        user=user, business_unit=business_unit, role=role
    )
    for perm in PERMS[role]:
        assign_perm(perm, user, business_unit)
    if created:
        ledger.record(
            "membership.added",
            ledger.Actor.of(actor),
            membership,
            business_unit_id=business_unit.pk,
            data={"user": user.get_username(), "role": role},
        )
    return membership


@transaction.atomic
def remove_membership(actor, membership: Membership) -> None:
    """Take a role away, keeping the permissions other roles of the same user still grant."""
    user, unit, role = membership.user, membership.business_unit, membership.role
    membership.delete()
    still = {
        perm
        for other in Membership.objects.filter(user=user, business_unit=unit)
        for perm in PERMS[other.role]
    }
    for perm in PERMS[role]:
        if perm not in still:
            remove_perm(perm, user, unit)
    ledger.record(
        "membership.removed",
        ledger.Actor.of(actor),
        object_type="governance.membership",
        object_id=str(user.pk),
        object_repr=f"{user.get_username()} {role}",
        business_unit_id=unit.pk,
        data={"user": user.get_username(), "role": role},
    )


@transaction.atomic
def make_coe(actor, user) -> None:
    """Add `user` to the COE group (global governance staff); a no-op if already there."""
    group = coe_group()
    if user.groups.filter(pk=group.pk).exists():
        return
    user.groups.add(group)
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    ledger.record(
        "coe.member_added",
        ledger.Actor.of(actor),
        user,
        object_repr=user.get_username(),
        data={"user": user.get_username()},
    )
