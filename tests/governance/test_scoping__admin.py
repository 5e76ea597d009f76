"""The Django admin is for COE staff only, and its governance pages change state through
the services (memberships carry their object permissions) with a ledger entry each."""

import pytest
from django.contrib import admin
from django.urls import reverse

from governance.models import AuditEntry, BusinessUnit, MemberRole, Membership
from governance.scoping import BUILD, SUPERVISE
from tests.factories import PASSWORD, make_user

OUR_MODELS = [
    model
    for model in admin.site._registry
    if model._meta.app_label in {"governance", "agents"}
    and model._meta.model_name not in {"userobjectpermission", "groupobjectpermission"}
]
NO_MEMBERSHIP_ROWS = {"memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"}


def changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def last_entry() -> AuditEntry:
    return AuditEntry.objects.order_by("-id").first()


def test_every_governance_and_agents_model_is_in_the_admin():
    names = {model._meta.label for model in OUR_MODELS}
    assert {
        "governance.BusinessUnit",
        "governance.Membership",
        "governance.AuditEntry",
        "governance.LedgerSeal",
        "agents.AgentRole",
        "agents.Agent",
        "agents.AgentAPIKey",
    } <= names


@pytest.mark.parametrize("persona", ["coe", "superuser"])
def test_coe_staff_and_superusers_use_every_admin_page(client, world, persona):
    user = world.coe if persona == "coe" else make_user("root", is_superuser=True)
    client.force_login(user)
    index = client.get(reverse("admin:index"))
    assert index.status_code == 200
    for model in OUR_MODELS:
        response = client.get(changelist(model))
        assert response.status_code == 200, model
        assert response.context["cl"].result_count == model._default_manager.count(), model


@pytest.mark.parametrize("persona", ["builder_a", "supervisor_a", "supervisor_b", "auditor"])
def test_other_people_are_sent_to_the_admin_login_even_when_staff(client, world, persona):
    user = getattr(world, persona)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    client.force_login(user)
    for url in [reverse("admin:index"), *(changelist(model) for model in OUR_MODELS)]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login")), url


def test_anonymous_visitors_are_sent_to_the_admin_login(client, world):
    response = client.get(changelist(BusinessUnit))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_a_staff_builder_who_signs_in_on_the_admin_login_gets_no_further(client, world):
    world.builder_a.is_staff = True
    world.builder_a.save(update_fields=["is_staff"])
    response = client.post(
        reverse("admin:login"),
        {"username": "builder-a", "password": PASSWORD, "next": reverse("admin:index")},
        follow=True,
    )
    assert response.status_code == 200
    assert response.resolver_match.url_name == "login"
    assert b"not authorized to access this page" in response.content
    assert client.get(changelist(BusinessUnit)).status_code == 302


def test_adding_a_business_unit_goes_through_the_service(client, world):
    client.force_login(world.coe)
    response = client.post(
        reverse("admin:governance_businessunit_add"),
        {"name": "Logistics", "slug": "logistics", "description": "Moves things."}
        | NO_MEMBERSHIP_ROWS,
    )
    assert response.status_code == 302
    unit = BusinessUnit.objects.get(slug="logistics")
    entry = last_entry()
    assert (entry.verb, entry.business_unit_id) == ("business_unit.created", unit.pk)
    assert entry.actor_name == "coe"
    assert unit.history.count() == 1


def test_editing_a_business_unit_records_what_changed(client, world):
    client.force_login(world.coe)
    url = reverse("admin:governance_businessunit_change", args=[world.unit_a.pk])
    response = client.post(
        url,
        {"name": "Unit A Renamed", "slug": "ignored", "description": "New."} | NO_MEMBERSHIP_ROWS,
    )
    assert response.status_code == 302
    unit = BusinessUnit.objects.get(pk=world.unit_a.pk)
    assert (unit.name, unit.slug) == ("Unit A Renamed", "unit-a")  # the slug is read-only
    entry = last_entry()
    assert entry.verb == "business_unit.updated"
    assert entry.data["changes"] == {
        "name": {"before": "Unit-A", "after": "Unit A Renamed"},
        "description": {"before": "", "after": "New."},
    }
    assert unit.history.first().history_user == world.coe


def test_an_unchanged_save_writes_nothing(client, world):
    client.force_login(world.coe)
    before = AuditEntry.objects.count()
    url = reverse("admin:governance_businessunit_change", args=[world.unit_a.pk])
    client.post(url, {"name": "Unit-A", "description": ""} | NO_MEMBERSHIP_ROWS)
    assert AuditEntry.objects.count() == before


def test_a_business_unit_history_is_shown_and_cannot_be_reverted(client, world):
    client.force_login(world.coe)
    unit = world.unit_a
    history = client.get(reverse("admin:governance_businessunit_history", args=[unit.pk]))
    assert history.status_code == 200
    version = unit.history.first()
    url = reverse(
        "admin:governance_businessunit_simple_history", args=[unit.pk, version.history_id]
    )
    assert client.get(url).status_code == 200
    assert client.post(url, {"name": "Reverted"} | NO_MEMBERSHIP_ROWS).status_code == 403
    assert BusinessUnit.objects.get(pk=unit.pk).name == "Unit-A"


def test_business_units_cannot_be_deleted_in_the_admin(client, world):
    client.force_login(world.coe)
    url = reverse("admin:governance_businessunit_delete", args=[world.unit_b.pk])
    assert client.post(url, {"post": "yes"}).status_code == 403
    assert BusinessUnit.objects.filter(pk=world.unit_b.pk).exists()


def test_adding_a_membership_grants_its_permissions_and_is_recorded(client, world):
    newcomer = make_user("newcomer")
    client.force_login(world.coe)
    response = client.post(
        reverse("admin:governance_membership_add"),
        {"user": newcomer.pk, "business_unit": world.unit_b.pk, "role": MemberRole.SUPERVISOR},
    )
    assert response.status_code == 302
    assert list(BusinessUnit.objects.for_person(newcomer, SUPERVISE)) == [world.unit_b]
    entry = last_entry()
    assert entry.verb == "membership.added"
    assert entry.data == {"user": "newcomer", "role": "supervisor"}


def test_a_duplicate_membership_is_a_form_error(client, world):
    client.force_login(world.coe)
    before = AuditEntry.objects.count(), Membership.objects.count()
    response = client.post(
        reverse("admin:governance_membership_add"),
        {"user": world.builder_a.pk, "business_unit": world.unit_a.pk, "role": "builder"},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert (AuditEntry.objects.count(), Membership.objects.count()) == before


def test_deleting_a_membership_takes_its_permissions_away(client, world):
    membership = Membership.objects.get(user=world.builder_a)
    client.force_login(world.coe)
    url = reverse("admin:governance_membership_delete", args=[membership.pk])
    assert client.post(url, {"post": "yes"}).status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert list(BusinessUnit.objects.for_person(world.builder_a, BUILD)) == []
    assert last_entry().verb == "membership.removed"


def test_deleting_memberships_in_bulk_goes_through_the_service_for_each(client, world):
    memberships = list(Membership.objects.filter(user__in=[world.builder_a, world.auditor]))
    client.force_login(world.coe)
    before = AuditEntry.objects.count()
    response = client.post(
        changelist(Membership),
        {
            "action": "delete_selected",
            "_selected_action": [m.pk for m in memberships],
            "post": "yes",
        },
    )
    assert response.status_code == 302
    assert AuditEntry.objects.count() == before + len(memberships)
    assert list(BusinessUnit.objects.for_person(world.builder_a)) == []
    assert list(BusinessUnit.objects.for_person(world.auditor)) == []


def test_a_membership_cannot_be_changed_in_place(client, world):
    membership = Membership.objects.get(user=world.builder_a)
    client.force_login(world.coe)
    url = reverse("admin:governance_membership_change", args=[membership.pk])
    assert client.get(url).status_code == 200  # shown read-only
    response = client.post(
        url, {"user": world.builder_a.pk, "business_unit": world.unit_b.pk, "role": "builder"}
    )
    assert response.status_code == 403
    assert Membership.objects.get(pk=membership.pk).business_unit == world.unit_a
