"""Django admin for policies (COE staff): policies, their versions and a draft's rules; kill
switches and decision records read-only.

Every change goes through governance.policies (one transaction with a ledger entry). A
version's page lists its rules; each rule has its own page, editable only while its version
is a draft; the rule form runs `validate_rule`, so a CEL error shows on the condition with
its line and column and nothing is saved, and the condition is checked as you type. A draft
is published from its page through a confirmation that shows the diff (with four eyes, one
person requests and another approves); archive and new draft are list actions.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from autonomy.core.admin import ReadOnlyInline
from autonomy.core.principals import is_coe
from governance import pdp, policies
from governance.admin import CoeAdminMixin, CoeHistoryAdmin, adopt
from governance.condition_variables import condition_variables
from governance.forms import RuleForm
from governance.models import (
    BusinessUnit,
    DecisionRecord,
    KillSwitch,
    Policy,
    PolicyVersion,
    Rule,
)
from governance.policy_diff import diff_versions, shown

__all__ = [
    "DecisionRecordAdmin",
    "KillSwitchAdmin",
    "PolicyAdmin",
    "PolicyVersionAdmin",
    "RuleAdmin",
]

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


class PolicyVersionInline(ReadOnlyInline):
    """A policy's versions, newest first; each opens on its own page."""

    model = PolicyVersion
    fields = ("number", "state", "created_at", "published_at", "archived_at")


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
            kwargs["queryset"] = BusinessUnit.objects.for_person(request.user)
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


def scope_summary(rule: Rule) -> str:
    """Whom a rule applies to, in a few words ("everyone" when no axis is narrowed)."""
    parts = [
        f"{label}: {', '.join(str(item) for item in values)}"
        for label, values in (
            ("roles", rule.roles),
            ("units", rule.business_units),
            ("agents", rule.agents),
            ("levels", rule.autonomy_levels),
        )
        if values
    ]
    return "; ".join(parts) or "everyone"


def excerpt(text: str, length: int = 60) -> str:
    """The condition on one line, cut to `length` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= length else flat[: length - 1] + "…"


def _version_url(version_id: int) -> str:
    return reverse("admin:governance_policyversion_change", args=[version_id])


@admin.register(PolicyVersion)
class PolicyVersionAdmin(CoeHistoryAdmin):
    """Versions: the page lists a version's rules compactly, each opening on its own page
    (editable while the version is a draft), moved up and down in place; publishing goes
    through a confirmation page that shows the diff against the published version.
    Versions are never added here: "new draft" starts one."""

    change_form_template = "admin/governance/policyversion/change_form.html"
    list_display = ("policy", "number", "state", "rule_count", "published_at", "published_by")
    list_filter = ("state", "policy")
    list_select_related = ("policy", "published_by")
    search_fields = ("policy__name", "policy__slug", "notes")
    fields = policies.VERSION_FIELDS
    readonly_fields = fields
    actions = ["archive", "new_draft"]

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="rules")
    def rule_count(self, version: PolicyVersion) -> int:
        return version.rules.count()

    def get_urls(self):
        return [
            path(
                "<int:version_id>/publish/",
                self.admin_site.admin_view(self.publish_view),
                name="governance_policyversion_publish",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        version = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if version is not None:
            rules = list(version.rules.order_by("position", "id"))
            extra.update(
                rules=[(rule, scope_summary(rule), excerpt(rule.condition)) for rule in rules],
                is_draft=version.state == State.DRAFT,
                add_rule_url=f"{reverse('admin:governance_rule_add')}?version={version.pk}",
            )
        return super().change_view(request, object_id, form_url, extra)

    def save_model(self, request, obj, form, change):
        """Nothing of the version itself is edited here; its rules have their own pages."""

    def _visible_version(self, request: HttpRequest, version_id: int) -> PolicyVersion:
        """The version if this person may see it here, else 404."""
        found = self.get_queryset(request).select_related("policy").filter(pk=version_id).first()
        if found is None or not self.has_view_permission(request, found):
            raise Http404
        return found

    def publish_view(self, request: HttpRequest, version_id: int) -> HttpResponse:
        """The diff against the published version and a confirmation. With four eyes, one
        person requests publication here and another approves (publishes) it."""
        version = self._visible_version(request, version_id)
        name = f"{version.policy} v{version.number}"
        if request.method == "POST" and request.POST.get("post") == "yes":
            step = request.POST.get("step")
            try:
                if step == "request":
                    policies.request_publication(request.user, version)
                    messages.success(request, f"{name}: publication requested.")
                else:
                    policies.publish(request.user, version)
                    messages.success(request, f"{name} published.")
            except (ValidationError, policies.InvalidState, policies.NotAllowed) as exc:
                messages.error(request, f"{name}: {_errors(exc)}")
            return redirect(_version_url(version.pk))
        if version.state != State.DRAFT:
            messages.error(request, f"{name} is {version.state}: only a draft is published.")
            return redirect(_version_url(version.pk))
        requester = version.publish_requested_by
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Publish {name}?",
            "version": version,
            "diff": diff_versions(version),
            "four_eyes": policies.four_eyes(request.user),
            "requester": requester,
            "own_request": requester is not None and requester.pk == request.user.pk,
            "stale_request": requester is not None
            and version.publish_request_digest != policies.rules_digest(version),
            "version_url": _version_url(version.pk),
        }
        return TemplateResponse(request, "admin/governance/policyversion/publish.html", context)

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


@admin.register(Rule)
class RuleAdmin(CoeHistoryAdmin):
    """One rule on its own page, reached from its version's page: added to a draft (at the
    end), changed, moved and removed only while the version is a draft, each through the
    services (validated, on the ledger). The condition is checked as you type."""

    form = RuleForm
    change_form_template = "admin/governance/rule/change_form.html"
    list_display = ("name", "version", "position", "action_pattern", "effect")
    list_filter = ("version__policy", "effect")
    list_select_related = ("version__policy",)
    search_fields = ("name", "action_pattern", "condition")
    fieldsets = (
        (None, {"fields": ("name", "action_pattern", "effect", "condition")}),
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

    def has_module_permission(self, request: HttpRequest) -> bool:
        return False  # reached from its version's page

    def get_fieldsets(self, request: HttpRequest, obj=None):
        if self._editable(request, obj):
            return self.fieldsets
        # Read-only: the SLA in human units rather than the stored seconds.
        return [
            (name, {"fields": tuple("sla" if f == "sla_seconds" else f for f in opts["fields"])})
            for name, opts in self.fieldsets
        ]

    @admin.display(description="SLA")
    def sla(self, rule: Rule) -> str:
        return shown("sla_seconds", rule.sla_seconds)

    def _editable(self, request: HttpRequest, obj) -> bool:
        return is_coe(request.user) and (obj is None or obj.version.state == State.DRAFT)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._editable(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._editable(request, obj)

    def _draft_from(self, request: HttpRequest) -> PolicyVersion:
        """The draft a new rule joins, named by ?version=<id>; 404 unless it is one."""
        version_id = request.GET.get("version", "")
        drafts = PolicyVersion.objects.for_person(request.user)
        draft = (
            drafts.select_related("policy").filter(pk=version_id, state=State.DRAFT).first()
            if version_id.isdigit()
            else None
        )
        if draft is None:
            raise Http404("Add a rule from its draft version's page.")
        return draft

    def get_form(self, request: HttpRequest, obj=None, change=False, **kwargs):
        base = super().get_form(request, obj, change=change, **kwargs)
        version = obj.version if obj is not None else self._draft_from(request)
        urls = {
            "version": version,
            "check_url": reverse("admin:governance_rule_check_condition"),
            "variables_url": reverse("admin:governance_rule_variables"),
        }

        class BoundRuleForm(base):
            def __init__(self, *args, **form_kwargs):
                super().__init__(*args, **urls, **form_kwargs)

        return BoundRuleForm

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "check-condition/",
                view(self.check_condition_view),
                name="governance_rule_check_condition",
            ),
            path("variables/", view(self.variables_view), name="governance_rule_variables"),
            path(
                "<int:rule_id>/move/<str:direction>/",
                view(self.move_view),
                name="governance_rule_move",
            ),
            *super().get_urls(),
        ]

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in form.cleaned_data}
        fields = {name: value for name, value in fields.items() if name in policies.RULE_FIELDS}
        try:
            if change:
                changed = {name: fields[name] for name in form.changed_data if name in fields}
                saved = policies.update_rule(request.user, obj, **changed)
            else:
                saved = policies.add_rule(request.user, obj.version, **fields)
        except (policies.InvalidState, policies.NotAllowed) as exc:
            raise PermissionDenied(str(exc)) from exc
        adopt(obj, saved)

    def delete_model(self, request, obj):
        try:
            policies.delete_rule(request.user, obj)
        except (policies.InvalidState, policies.NotAllowed) as exc:
            raise PermissionDenied(str(exc)) from exc
        request.rule_version_id = obj.version_id

    def delete_queryset(self, request, queryset):
        for rule in queryset.select_related("version"):
            self.delete_model(request, rule)

    def response_post_save_add(self, request, obj):
        return redirect(_version_url(obj.version_id))

    def response_post_save_change(self, request, obj):
        return redirect(_version_url(obj.version_id))

    def response_delete(self, request, obj_display, obj_id):
        version_id = getattr(request, "rule_version_id", None)
        if version_id is None:
            return super().response_delete(request, obj_display, obj_id)
        messages.success(request, f"Rule “{obj_display}” removed.")
        return redirect(_version_url(version_id))

    def _visible_rule(self, request: HttpRequest, rule_id: int) -> Rule:
        rule = self.get_queryset(request).select_related("version").filter(pk=rule_id).first()
        if rule is None or not self.has_view_permission(request, rule):
            raise Http404
        return rule

    def move_view(self, request: HttpRequest, rule_id: int, direction: str) -> HttpResponse:
        """Move a draft's rule one place up or down (POST), back to its version's page."""
        if request.method != "POST" or direction not in ("up", "down"):
            return HttpResponseNotAllowed(["POST"])
        rule = self._visible_rule(request, rule_id)
        ordered = list(rule.version.rules.order_by("position", "id").values_list("pk", flat=True))
        target = ordered.index(rule.pk) + (-1 if direction == "up" else 1)
        try:
            policies.move_rule(request.user, rule, target)
        except (policies.InvalidState, policies.NotAllowed) as exc:
            messages.error(request, str(exc))
        return redirect(_version_url(rule.version_id))

    def check_condition_view(self, request: HttpRequest) -> HttpResponse:
        """The condition of the posted form, checked as it would be at save time: an
        error with its line and column, or that it compiles (an htmx fragment)."""
        if not is_coe(request.user):
            raise PermissionDenied
        source = request.POST.get("condition", request.GET.get("condition", ""))
        error = None
        try:
            policies.check_condition(source)
        except pdp.PolicyCompileError as exc:
            error = exc
        return TemplateResponse(
            request,
            "admin/governance/rule/condition_check.html",
            {"error": error, "empty": not source.strip()},
            status=200,
        )

    def variables_view(self, request: HttpRequest) -> HttpResponse:
        """The variables a condition for ?action_pattern= may read (an htmx fragment)."""
        if not is_coe(request.user):
            raise PermissionDenied
        pattern = request.GET.get("action_pattern", "").strip()
        return TemplateResponse(
            request,
            "admin/governance/rule/variables.html",
            {"pattern": pattern, "variables": condition_variables(pattern)},
        )


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
