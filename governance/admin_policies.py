"""Django admin for policies (COE staff): policies, their versions and a draft's rules; kill
switches and decision records read-only.

Every change goes through governance.policies (one transaction with a ledger entry). A
rule is edited only while its version is a draft; the rule form runs `validate_rule`, so a
CEL error shows on the condition with its line and column and nothing is saved. Drafts are
published, archived or started with admin actions.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from governance import policies
from governance.admin import CoeAdminMixin, CoeHistoryAdmin, adopt
from governance.forms import RuleForm
from governance.models import DecisionRecord, KillSwitch, Policy, PolicyVersion, Rule
from governance.scoping import business_units_for, is_coe

__all__ = ["DecisionRecordAdmin", "KillSwitchAdmin", "PolicyAdmin", "PolicyVersionAdmin"]

State = PolicyVersion.State


def _errors(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(message for messages in exc.message_dict.values() for message in messages)
    return str(exc)


def _new_drafts(request: HttpRequest, policy_list) -> None:
    for policy in policy_list:
        try:
            version = policies.create_draft(request.user, policy)
        except (policies.InvalidState, policies.NotAllowed) as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"{policy}: draft v{version.number} created.")


class PolicyVersionInline(admin.TabularInline):
    """A policy's versions, newest first; each opens on its own page."""

    model = PolicyVersion
    fields = ("number", "state", "created_at", "published_at", "archived_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return is_coe(request.user)


@admin.register(Policy)
class PolicyAdmin(CoeHistoryAdmin):
    """Policies: created with an empty draft v1; the slug and owner are fixed once created."""

    list_display = ("name", "slug", "owner_name", "published", "draft")
    list_filter = ("business_unit",)
    search_fields = ("name", "slug", "description")
    inlines = [PolicyVersionInline]
    actions = ["new_draft"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("versions")

    def get_fields(self, request: HttpRequest, obj=None):
        return ("slug", "name", "description", "business_unit", "created_at")

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return ("slug", "business_unit", "created_at") if obj is not None else ("created_at",)

    def get_prepopulated_fields(self, request: HttpRequest, obj=None):
        return {"slug": ("name",)} if obj is None else {}

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "business_unit":
            kwargs["queryset"] = business_units_for(request.user)
            kwargs["help_text"] = "Empty: a COE policy, applying to every business unit."
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="owner")
    def owner_name(self, policy: Policy) -> str:
        return str(policy.business_unit) if policy.business_unit_id else "COE"

    def _numbered(self, policy: Policy, state: str) -> str:
        numbers = [f"v{v.number}" for v in policy.versions.all() if v.state == state]
        return ", ".join(numbers) or "-"

    @admin.display(description="published")
    def published(self, policy: Policy) -> str:
        return self._numbered(policy, State.PUBLISHED)

    @admin.display(description="draft")
    def draft(self, policy: Policy) -> str:
        return self._numbered(policy, State.DRAFT)

    def save_model(self, request, obj, form, change):
        try:
            if change:
                changes = {name: getattr(obj, name) for name in form.changed_data}
                saved = policies.update_policy(request.user, obj, **changes)
            else:
                saved = policies.create_policy(
                    request.user,
                    slug=obj.slug,
                    name=obj.name,
                    description=obj.description,
                    business_unit=obj.business_unit,
                )
        except policies.NotAllowed as exc:
            raise PermissionDenied(str(exc)) from exc
        adopt(obj, saved)

    @admin.action(description="Start a new draft of the selected policies")
    def new_draft(self, request: HttpRequest, queryset: QuerySet) -> None:
        _new_drafts(request, queryset)


class RuleInline(admin.StackedInline):
    """A version's rules: editable while the version is a draft, read-only after."""

    model = Rule
    form = RuleForm
    extra = 0
    fieldsets = (
        (None, {"fields": ("position", "name", "action_pattern", "effect", "condition")}),
        (
            "Scope (empty means all)",
            {"fields": ("roles", "business_units", "agents", "autonomy_levels")},
        ),
        ("Approval", {"fields": ("route", "sla_seconds", "reason", "log_only")}),
        (
            "Limit (soft: approval, hard: deny)",
            {
                "fields": (
                    "limit_metric",
                    "limit_scope",
                    "limit_window",
                    "limit_field",
                    "soft_limit",
                    "hard_limit",
                    "suspend_on_hard_limit",
                )
            },
        ),
    )

    def _draft(self, obj) -> bool:
        return obj is not None and obj.state == State.DRAFT

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return is_coe(request.user)

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return is_coe(request.user) and self._draft(obj)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return is_coe(request.user) and self._draft(obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return is_coe(request.user) and self._draft(obj)


@admin.register(PolicyVersion)
class PolicyVersionAdmin(CoeHistoryAdmin):
    """Versions: a draft's rules are edited inline; publish, archive and new draft are
    actions. Versions are never added here: "new draft" starts one."""

    scope_field = "policy__business_unit"
    list_display = ("policy", "number", "state", "rule_count", "published_at", "published_by")
    list_filter = ("state", "policy")
    list_select_related = ("policy", "published_by")
    search_fields = ("policy__name", "policy__slug", "notes")
    fields = (
        "policy",
        "number",
        "state",
        "notes",
        "created_by",
        "created_at",
        "published_by",
        "published_at",
        "archived_at",
    )
    readonly_fields = fields
    inlines = [RuleInline]
    actions = ["publish", "archive", "new_draft"]

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="rules")
    def rule_count(self, version: PolicyVersion) -> int:
        return version.rules.count()

    def save_model(self, request, obj, form, change):
        """Nothing of the version itself is edited here; its rules are saved one by one."""

    def save_formset(self, request, form, formset, change):
        """Save a draft's rules through the services, each add, change and removal on the
        ledger; a version published meanwhile refuses the whole save."""
        version = form.instance
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        deleted = set(formset.deleted_forms)
        try:
            for rule_form in formset.deleted_forms:
                if rule_form.instance.pk is not None:
                    policies.delete_rule(request.user, rule_form.instance)
                    formset.deleted_objects.append(rule_form.instance)
            for rule_form in formset.forms:
                if rule_form in deleted or not rule_form.has_changed():
                    continue
                data = rule_form.cleaned_data
                if rule_form.instance.pk is None:
                    fields = {name: data[name] for name in policies.RULE_FIELDS}
                    rule = policies.add_rule(request.user, version, **fields)
                    formset.new_objects.append(rule)
                else:
                    changed = [n for n in rule_form.changed_data if n in policies.RULE_FIELDS]
                    rule = policies.update_rule(
                        request.user, rule_form.instance, **{n: data[n] for n in changed}
                    )
                    formset.changed_objects.append((rule, changed))
        except (policies.InvalidState, policies.NotAllowed) as exc:
            raise PermissionDenied(str(exc)) from exc

    @admin.action(description="Publish the selected drafts (archives the published version)")
    def publish(self, request: HttpRequest, queryset: QuerySet) -> None:
        for version in queryset:
            try:
                policies.publish(request.user, version)
            except (ValidationError, policies.InvalidState, policies.NotAllowed) as exc:
                messages.error(request, f"{version.policy} v{version.number}: {_errors(exc)}")
            else:
                messages.success(request, f"{version.policy} v{version.number} published.")

    @admin.action(description="Archive the selected versions")
    def archive(self, request: HttpRequest, queryset: QuerySet) -> None:
        for version in queryset:
            try:
                policies.archive(request.user, version)
            except (policies.InvalidState, policies.NotAllowed) as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, f"{version.policy} v{version.number} archived.")

    @admin.action(description="Start a new draft of the selected versions' policies")
    def new_draft(self, request: HttpRequest, queryset: QuerySet) -> None:
        _new_drafts(request, Policy.objects.filter(versions__in=queryset).distinct())


class ReadOnlyHistoryAdmin(CoeHistoryAdmin):
    """Looked at here, changed only by its own services."""

    actions = None

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(KillSwitch)
class KillSwitchAdmin(ReadOnlyHistoryAdmin):
    # Switches on action patterns have no business unit: COE staff see them all.
    scope_field = None
    list_display = ("__str__", "kind", "active", "engaged_by", "engaged_at", "released_at")
    list_filter = ("active", "kind", "business_unit")
    search_fields = ("action_pattern", "reason", "release_reason")
    list_select_related = ("business_unit", "engaged_by")
    date_hierarchy = "engaged_at"


@admin.register(DecisionRecord)
class DecisionRecordAdmin(CoeAdminMixin, admin.ModelAdmin):
    """Decisions as made: searched and read, never written here."""

    actions = None
    list_display = ("created_at", "agent_slug", "action", "effect", "source", "business_unit")
    list_filter = ("effect", "source", "business_unit")
    search_fields = ("=id", "agent_slug", "action", "role")
    date_hierarchy = "created_at"
    list_select_related = ("business_unit",)

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [field.name for field in DecisionRecord._meta.fields]

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
