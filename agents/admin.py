"""Django admin for COE staff: agent roles, agents (lifecycle by actions) and their keys.

An agent's state is read-only here: approve, reject, suspend, resume and retire are
admin actions that call agents.services.transition(), which checks the actor and writes
the ledger. Keys are issued on the agent's page (the secret is shown once there); here
they can only be looked at and revoked.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.http import HttpRequest
from rest_framework_api_key.models import APIKey

from agents import services
from agents.models import Agent, AgentAPIKey, AgentRole
from autonomy.core.admin import ReadOnlyInline
from governance.admin import CoeAdminMixin, CoeHistoryAdmin, adopt, save_tracked_change
from governance.models import BusinessUnit

__all__ = ["AgentAPIKeyAdmin", "AgentAdmin", "AgentRoleAdmin"]

# The package's own key model is unused (agents have AgentAPIKey); hide its add page.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)


@admin.register(AgentRole)
class AgentRoleAdmin(CoeHistoryAdmin):
    """Roles are global COE standards, created and changed through the services."""

    list_display = ("name", "slug", "default_autonomy_level", "patterns")
    list_filter = ("default_autonomy_level",)
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}

    @admin.display(description="action patterns")
    def patterns(self, role: AgentRole) -> str:
        return ", ".join(role.action_patterns)

    def save_model(self, request, obj, form, change):
        if change:
            changed = {name: getattr(obj, name) for name in form.changed_data}
            role = services.update_role(request.user, obj, **changed)
        else:
            fields = {name: getattr(obj, name) for name in services.ROLE_FIELDS}
            role = services.create_role(request.user, **fields)
        adopt(obj, role)


class AgentAPIKeyInline(ReadOnlyInline):
    model = AgentAPIKey
    fields = ("prefix", "name", "created", "expiry_date", "last_used_at", "revoked", "revoked_at")


class NoteActionForm(ActionForm):
    """The action bar with a note, which reject and suspend require."""

    note = forms.CharField(
        required=False, max_length=500, help_text="Required to reject or suspend."
    )


def _lifecycle_action(name: str, description: str):
    """An admin action that runs transition `name` on each selected agent."""

    def action(modeladmin, request, queryset):
        note = request.POST.get("note", "")
        moved = 0
        for agent in queryset:
            try:
                services.transition(request.user, agent, name, note)
            except (services.InvalidTransition, services.NotAllowed) as exc:
                messages.error(request, f"{agent}: {exc}")
            else:
                moved += 1
        if moved:
            messages.success(request, f"{description}: {moved} agent(s).")

    action.__name__ = name
    return admin.action(description=f"{description} selected agents")(action)


@admin.register(Agent)
class AgentAdmin(CoeHistoryAdmin):
    """Agents: edits are recorded; the state moves only through lifecycle actions."""

    list_display = (
        "name",
        "slug",
        "business_unit",
        "role",
        "state",
        "autonomy_level",
        "owner",
        "state_changed_at",
    )
    list_filter = ("state", "business_unit", "role", "autonomy_level")
    search_fields = ("slug", "name", "purpose", "owner__username")
    list_select_related = ("business_unit", "role", "owner")
    action_form = NoteActionForm
    actions = [
        _lifecycle_action("approve", "Approve"),
        _lifecycle_action("reject", "Reject (note required)"),
        _lifecycle_action("suspend", "Suspend (note required)"),
        _lifecycle_action("resume", "Resume"),
        _lifecycle_action("retire", "Retire and revoke keys of"),
    ]
    inlines = [AgentAPIKeyInline]

    def get_fields(self, request: HttpRequest, obj=None):
        editable = ["name", "purpose", "business_unit", "role", "capabilities", "autonomy_level"]
        if obj is None:
            # The registering COE member owns the agent, as builders own theirs.
            return ["slug", *editable]
        return ["slug", "state", *editable, "owner", "created_at", "state_changed_at"]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        if obj is None:
            return ()
        return ("slug", "state", "created_at", "state_changed_at")

    def get_prepopulated_fields(self, request: HttpRequest, obj=None):
        return {"slug": ("name",)} if obj is None else {}

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "business_unit":
            kwargs["queryset"] = BusinessUnit.objects.for_person(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            save_tracked_change(request, obj, form, "agent.updated")
            return
        agent = services.register_agent(
            request.user,
            slug=obj.slug,
            name=obj.name,
            purpose=obj.purpose,
            business_unit=obj.business_unit,
            role=obj.role,
            capabilities=obj.capabilities,
            autonomy_level=obj.autonomy_level,
        )
        adopt(obj, agent)


@admin.register(AgentAPIKey)
class AgentAPIKeyAdmin(CoeAdminMixin, admin.ModelAdmin):
    """Keys, read-only: no secret or hash is shown, and revoking is the only change."""

    list_display = (
        "prefix",
        "name",
        "agent",
        "created",
        "expiry_date",
        "last_used_at",
        "revoked",
        "created_by",
    )
    list_filter = ("revoked", "agent__business_unit")
    search_fields = ("prefix", "name", "agent__slug", "agent__name", "created_by")
    list_select_related = ("agent",)
    fields = (
        "prefix",
        "name",
        "agent",
        "created",
        "created_by",
        "expiry_date",
        "last_used_at",
        "revoked",
        "revoked_at",
    )
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        revoked = 0
        for key in queryset.select_related("agent").filter(revoked=False):
            try:
                services.revoke_key(request.user, key)
            except (services.InvalidTransition, services.NotAllowed) as exc:
                messages.error(request, f"{key.prefix}: {exc}")
            else:
                revoked += 1
        if revoked:
            messages.success(request, f"Revoked {revoked} key(s); they stop working at once.")
        else:
            messages.warning(request, "No live keys were selected.")
