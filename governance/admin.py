"""Django admin for COE staff: business units, memberships and the read-only ledger.

Every admin here is COE-only (autonomy/admin.py also closes the whole site to anyone
else): COE staff see every row, anyone else none. It changes state only through the
service functions or with a ledger entry in the same transaction.
"""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from autonomy.core.admin import ReadOnlyInline
from autonomy.core.principals import is_coe
from governance import ledger, services
from governance.changes import diff, record_change, stamp
from governance.models import AuditEntry, BusinessUnit, LedgerSeal, Membership

__all__ = [
    "AuditEntryAdmin",
    "BusinessUnitAdmin",
    "CoeAdminMixin",
    "CoeHistoryAdmin",
    "LedgerSealAdmin",
    "MembershipAdmin",
    "ReadOnlyAdmin",
    "adopt",
    "save_tracked_change",
]


class CoeAdminMixin:
    """COE staff may view, add and change; nobody deletes unless an admin says so.
    COE staff see every row of every business unit; anyone else none."""

    def get_queryset(self, request: HttpRequest) -> models.QuerySet:
        queryset = super().get_queryset(request)
        return queryset if is_coe(request.user) else queryset.none()

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_coe(request.user)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return is_coe(request.user)

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return is_coe(request.user)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return is_coe(request.user)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class CoeHistoryAdmin(CoeAdminMixin, SimpleHistoryAdmin):
    """A COE admin whose history is shown but never reverted.

    A revert saves an old copy of the whole row, which would bypass the services (an
    agent's state would jump back without a lifecycle transition), so it is refused.
    """

    def revert_disabled(self, request: HttpRequest, obj=None) -> bool:
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method == "POST":
            raise PermissionDenied("History is read-only; edit the object instead.")
        return super().history_form_view(request, object_id, version_id, extra_context)


def _values(obj: models.Model, names) -> dict:
    return {name: obj._meta.get_field(name).value_from_object(obj) for name in names}


def adopt(obj: models.Model, saved: models.Model) -> None:
    """Make the unsaved `obj` of the admin form the row a service created."""
    obj.__dict__.update(saved.__dict__)


def save_tracked_change(request: HttpRequest, obj: models.Model, form, verb: str) -> None:
    """Write only the fields the form changed onto the locked row, with one ledger entry.

    Other fields (an agent's state, changed meanwhile by a transition) keep their current
    values instead of the stale ones the form was loaded with.
    """
    names = [name for name in form.changed_data if name in {f.name for f in obj._meta.fields}]
    with transaction.atomic():
        current = type(obj).objects.select_for_update().get(pk=obj.pk)
        changes = diff(_values(current, names), _values(obj, names))
        if not changes:
            return
        for name in changes:
            field = obj._meta.get_field(name)
            setattr(current, field.attname, getattr(obj, field.attname))
        stamp(current, request.user)
        current.save(update_fields=list(changes))
        record_change(
            verb,
            request.user,
            current,
            changes,
            business_unit_id=current.pk if isinstance(current, BusinessUnit) else None,
            via="admin",
        )
    adopt(obj, current)


class MembershipInline(ReadOnlyInline):
    """Who holds which role in the business unit (changed on the membership page)."""

    model = Membership
    fields = ("user", "role", "created_at")


@admin.register(BusinessUnit)
class BusinessUnitAdmin(CoeHistoryAdmin):
    """Business units: created through the service, edits recorded in the ledger.

    Guardian's object-permission pages are left out on purpose: permissions follow from
    memberships, and granting them by hand would skip both the membership and the ledger.
    """

    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug", "description")
    inlines = [MembershipInline]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        # The slug names the unit in URLs and demo data; it is fixed once created.
        return ("slug", "created_at") if obj is not None else ("created_at",)

    def get_prepopulated_fields(self, request: HttpRequest, obj=None):
        # Not the class attribute: simple-history's version page reads that one, and
        # there the slug is read-only.
        return {"slug": ("name",)} if obj is None else {}

    def save_model(self, request, obj, form, change):
        if change:
            save_tracked_change(request, obj, form, "business_unit.updated")
            return
        unit = services.create_business_unit(
            request.user, slug=obj.slug, name=obj.name, description=obj.description
        )
        adopt(obj, unit)


@admin.register(Membership)
class MembershipAdmin(CoeHistoryAdmin):
    """Memberships are added and removed through the services, so permissions follow."""

    list_display = ("user", "business_unit", "role", "created_at")
    list_filter = ("role", "business_unit")
    search_fields = ("user__username", "user__email", "business_unit__name")
    list_select_related = ("user", "business_unit")
    fields = ("user", "business_unit", "role", "created_at")
    readonly_fields = ("created_at",)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        # A membership is a fact to add or remove; changing one in place would leave
        # the object permissions of the old role behind.
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return is_coe(request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "business_unit":
            kwargs["queryset"] = BusinessUnit.objects.for_person(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        membership = services.add_membership(request.user, obj.user, obj.business_unit, obj.role)
        adopt(obj, membership)

    def delete_model(self, request, obj):
        services.remove_membership(request.user, obj)

    def delete_queryset(self, request, queryset):
        for membership in queryset.select_related("user", "business_unit"):
            services.remove_membership(request.user, membership)


class ReadOnlyAdmin(CoeAdminMixin, admin.ModelAdmin):
    """A record kept by the system (the ledger, execution's logs): searched, filtered and
    looked at in admin, never added to, changed or deleted there."""

    actions = None

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "actor_kind",
        "actor_name",
        "verb",
        "object_type",
        "object_repr",
        "business_unit",
    )
    list_filter = ("verb", "actor_kind", "business_unit")
    search_fields = ("actor_name", "verb", "object_type", "object_id", "object_repr", "request_id")
    list_select_related = ("business_unit",)
    date_hierarchy = "created_at"
    fields = (*ledger.ENTRY_FIELDS, "seal_position")
    readonly_fields = fields

    @admin.display(description="chain position")
    def seal_position(self, entry: AuditEntry) -> str:
        seal = LedgerSeal.objects.filter(entry_id=entry.pk).first()
        return f"seq {seal.seq}, {seal.chain_hash}" if seal else "not sealed yet"


@admin.register(LedgerSeal)
class LedgerSealAdmin(ReadOnlyAdmin):
    list_display = ("seq", "entry_id", "entry_verb", "short_chain_hash", "sealed_at")
    list_filter = ("entry__verb", "entry__actor_kind", "entry__business_unit")
    search_fields = ("=seq", "=entry__id", "chain_hash", "content_hash", "entry__verb")
    date_hierarchy = "entry__created_at"
    fields = ("seq", "entry", "content_hash", "prev_hash", "chain_hash", "sealed_at")
    # No select_related: a seal whose entry was deleted must still be listed.
    readonly_fields = fields

    @admin.display(description="verb")
    def entry_verb(self, seal: LedgerSeal) -> str:
        return seal.entry.verb if seal.entry_id and _entry_exists(seal) else "(entry missing)"

    @admin.display(description="chain hash")
    def short_chain_hash(self, seal: LedgerSeal) -> str:
        return seal.chain_hash[:16] + "…"


def _entry_exists(seal: LedgerSeal) -> bool:
    try:
        return seal.entry is not None
    except AuditEntry.DoesNotExist:
        return False


from governance import admin_policies  # noqa: E402,F401
