"""The ledger has no update or delete path: not on the models, not in the admin."""

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from governance import ledger
from governance.models import AuditEntry, LedgerSeal


@pytest.fixture
def entry(world) -> AuditEntry:
    ledger.seal_pending()
    return AuditEntry.objects.filter(verb="agent.approve").first()


def test_saving_an_existing_entry_is_refused(entry):
    entry.verb = "agent.forged"
    with pytest.raises(PermissionError):
        entry.save()
    assert AuditEntry.objects.get(pk=entry.pk).verb == "agent.approve"


def test_deleting_an_entry_is_refused(entry):
    with pytest.raises(PermissionError):
        entry.delete()
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_saving_or_deleting_a_seal_is_refused(entry):
    seal = LedgerSeal.objects.get(entry=entry)
    seal.chain_hash = "0" * 64
    with pytest.raises(PermissionError):
        seal.save()
    with pytest.raises(PermissionError):
        seal.delete()
    assert LedgerSeal.objects.get(pk=seal.pk).chain_hash != "0" * 64


@pytest.mark.parametrize("model", [AuditEntry, LedgerSeal])
def test_the_admin_grants_nobody_add_change_or_delete(world, model):
    request = RequestFactory().get("/admin/")
    request.user = world.coe
    model_admin = admin.site._registry[model]
    assert model_admin.has_view_permission(request)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
    assert model_admin.get_actions(request) == {}


def test_the_admin_refuses_to_add_change_or_delete_an_entry(client, world, entry):
    client.force_login(world.coe)
    name = "admin:governance_auditentry"
    assert client.get(reverse(f"{name}_add")).status_code == 403
    assert client.post(reverse(f"{name}_add"), {"verb": "agent.forged"}).status_code == 403
    change = reverse(f"{name}_change", args=[entry.pk])
    assert client.get(change).status_code == 200  # shown read-only
    client.post(change, {"verb": "agent.forged", "actor_kind": "user"})
    assert client.post(reverse(f"{name}_delete", args=[entry.pk])).status_code == 403
    fresh = AuditEntry.objects.get(pk=entry.pk)
    assert fresh.verb == "agent.approve"
    assert ledger.verify_database().ok


def test_the_admin_refuses_to_change_or_delete_a_seal(client, world, entry):
    client.force_login(world.coe)
    seal = LedgerSeal.objects.get(entry=entry)
    name = "admin:governance_ledgerseal"
    assert client.get(reverse(f"{name}_add")).status_code == 403
    client.post(reverse(f"{name}_change", args=[seal.pk]), {"chain_hash": "0" * 64})
    assert client.post(reverse(f"{name}_delete", args=[seal.pk])).status_code == 403
    assert LedgerSeal.objects.get(pk=seal.pk).chain_hash == seal.chain_hash


def test_the_admin_searches_and_filters_entries(client, world, entry):
    client.force_login(world.coe)
    url = reverse("admin:governance_auditentry_changelist")
    found = client.get(url, {"q": "agent.approve"})
    assert found.status_code == 200
    assert [e.object_repr for e in found.context["cl"].result_list] == ["Agent B", "Agent A"]
    by_verb = client.get(url, {"verb": "agent.approve", "actor_kind__exact": "user"})
    assert {e.verb for e in by_verb.context["cl"].result_list} == {"agent.approve"}
    by_unit = client.get(url, {"business_unit__id__exact": world.unit_b.pk})
    assert {e.business_unit_id for e in by_unit.context["cl"].result_list} == {world.unit_b.pk}
    year = entry.created_at.year
    assert client.get(url, {"created_at__year": year}).status_code == 200


def test_the_admin_lists_seals_with_their_entries(client, world, entry):
    client.force_login(world.coe)
    url = reverse("admin:governance_ledgerseal_changelist")
    response = client.get(url, {"entry__verb": "agent.approve"})
    assert response.status_code == 200
    assert {s.entry.verb for s in response.context["cl"].result_list} == {"agent.approve"}
    detail = client.get(reverse("admin:governance_auditentry_change", args=[entry.pk]))
    assert b"seq " in detail.content


def test_bulk_updates_and_deletes_of_entries_are_refused(entry):
    with pytest.raises(PermissionError):
        AuditEntry.objects.filter(pk=entry.pk).update(verb="agent.forged")
    with pytest.raises(PermissionError):
        AuditEntry.objects.filter(pk=entry.pk).delete()
    with pytest.raises(PermissionError):
        LedgerSeal.objects.all().update(seq=0)
    with pytest.raises(PermissionError):
        LedgerSeal.objects.all().delete()
