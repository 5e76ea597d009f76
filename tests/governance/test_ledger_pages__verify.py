""" "Verify now": a queued run, checked in a Celery task, whose outcome the page shows.

The task is called directly (a real worker would run it after commit); tampering is done
with raw SQL, the way someone with database access would do it.
"""

import pytest
from django.db import connection
from django.urls import reverse

from governance import ledger, tasks
from governance.ledger_guard import maintenance
from governance.models import AuditEntry, LedgerSeal, LedgerVerification

pytestmark = pytest.mark.django_db

VERIFY = reverse("governance:ledger-verify")
HTMX = {"HX-Request": "true"}


def run_page(run: LedgerVerification) -> str:
    return reverse("governance:ledger-verification", args=[run.pk])


def secret_of_b(world) -> AuditEntry:
    return ledger.record(
        "test.fact",
        ledger.Actor.system("tests"),
        business_unit_id=world.unit_b.pk,
        object_type="test.thing",
        object_id="b1",
        object_repr="Secret of B",
        data={"secret": "b-data"},
    )


def test_verify_now_queues_a_run_records_it_and_dispatches_the_check_after_commit(
    client, world, django_capture_on_commit_callbacks
):
    client.force_login(world.auditor)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(VERIFY)
    run = LedgerVerification.objects.get()
    assert response.status_code == 302
    assert response["Location"] == run_page(run)
    assert (run.state, run.requested_by) == (LedgerVerification.State.QUEUED, world.auditor)
    assert len(callbacks) == 1
    requested = AuditEntry.objects.get(verb="ledger.verification_requested")
    assert (requested.actor_name, requested.object_id) == ("auditor", str(run.pk))
    assert requested.business_unit_id is None  # a COE-wide fact: the chain is global


def test_a_second_click_while_a_run_is_under_way_returns_that_run(client, world):
    client.force_login(world.auditor)
    client.post(VERIFY)
    client.post(VERIFY)
    assert LedgerVerification.objects.count() == 1


def test_the_page_polls_while_queued_and_stops_once_the_run_is_finished(client, world):
    client.force_login(world.auditor)
    fragment = client.post(VERIFY, headers=HTMX)
    assert fragment.status_code == 200
    assert b'hx-trigger="every 2s"' in fragment.content
    assert b"Queued" in fragment.content
    run = LedgerVerification.objects.get()
    assert tasks.verify_ledger_chain(run.pk) == LedgerVerification.State.OK
    done = client.get(run_page(run), headers=HTMX)
    assert b"every 2s" not in done.content
    assert b"<html" not in done.content
    assert b"Intact" in done.content


def test_an_intact_chain_is_reported_with_its_count_and_head(client, world):
    client.force_login(world.auditor)
    client.post(VERIFY)
    run = LedgerVerification.objects.get()
    tasks.verify_ledger_chain(run.pk)
    run.refresh_from_db()
    head = LedgerSeal.objects.order_by("-seq").first()
    assert run.state == LedgerVerification.State.OK
    # Everything up to the request itself was sealed and checked.
    assert run.checked == head.seq
    assert run.head_hash == head.chain_hash
    assert run.started_at and run.finished_at and run.problem == ""
    page = client.get(run_page(run)).content.decode()
    assert head.chain_hash in page and f">{head.seq}<" in page
    outcome = AuditEntry.objects.get(verb="ledger.verified")
    assert outcome.data["state"] == "ok" and outcome.business_unit_id is None


def test_a_tampered_chain_is_reported_without_showing_the_foreign_entry(client, world):
    victim = secret_of_b(world)
    ledger.seal_pending()
    seq = LedgerSeal.objects.get(entry_id=victim.pk).seq
    with maintenance(), connection.cursor() as cursor:  # as the tables' owner could
        cursor.execute(
            f"UPDATE {AuditEntry._meta.db_table} SET object_repr = %s WHERE id = %s",
            ["Forged secret of B", victim.pk],
        )
    client.force_login(world.auditor)
    client.post(VERIFY)
    run = LedgerVerification.objects.get()
    assert tasks.verify_ledger_chain(run.pk) == LedgerVerification.State.FAILED
    run.refresh_from_db()
    assert run.problem == f"seq {seq}, entry id {victim.pk}: entry modified"
    assert run.checked == seq - 1
    page = client.get(run_page(run))
    assert page.status_code == 200
    assert b"Tampering found" in page.content
    assert f"seq {seq}, entry id {victim.pk}: entry modified".encode() in page.content
    for foreign in (b"Secret of B", b"b-data", b"unit-b", b"Unit-B"):
        assert foreign not in page.content


def test_a_run_is_finished_once_even_if_its_task_is_delivered_twice(world):
    run = ledger.request_verification(world.coe)
    assert tasks.verify_ledger_chain(run.pk) == LedgerVerification.State.OK
    assert tasks.verify_ledger_chain(run.pk) is None
    assert AuditEntry.objects.filter(verb="ledger.verified").count() == 1


def test_the_latest_run_shows_on_the_ledger_page(client, world):
    client.force_login(world.auditor)
    client.post(VERIFY)
    run = LedgerVerification.objects.get()
    tasks.verify_ledger_chain(run.pk)
    page = client.get(reverse("governance:ledger"))
    assert page.context["verification"] == run
    assert b'id="verification-head"' in page.content


def test_an_auditor_sees_only_their_own_runs_and_coe_staff_see_all(client, world):
    coe_run = ledger.request_verification(world.coe)
    auditor_run = ledger.request_verification(world.auditor)
    client.force_login(world.auditor)
    assert client.get(run_page(coe_run)).status_code == 404
    assert client.get(run_page(auditor_run)).status_code == 200
    client.force_login(world.coe)
    assert client.get(run_page(auditor_run)).status_code == 200


def test_people_who_audit_nothing_cannot_request_or_read_runs(client, world):
    run = ledger.request_verification(world.coe)
    client.force_login(world.builder_a)
    assert client.post(VERIFY).status_code == 404
    assert client.get(run_page(run)).status_code == 404
    with pytest.raises(ledger.NotAllowed):
        ledger.request_verification(world.builder_a)
    assert LedgerVerification.objects.count() == 1
