"""The ledger over the API: scoped search, entries, filtered export, verification runs."""

import json

import pytest
from django.db import connection

from governance import ledger, tasks
from governance.ledger_guard import maintenance
from governance.models import AuditEntry, LedgerSeal, LedgerVerification

pytestmark = pytest.mark.django_db

LIST = "/api/v1/ledger/"
EXPORT = "/api/v1/ledger/export/"
VERIFY = "/api/v1/ledger/verify/"
SYSTEM = ledger.Actor.system("tests")


def fact(unit, verb="api.fact", repr_="A fact", data=None) -> AuditEntry:
    return ledger.record(
        verb,
        SYSTEM,
        business_unit_id=unit.pk if unit else None,
        object_type="test.thing",
        object_id="1",
        object_repr=repr_,
        data=data or {},
    )


@pytest.fixture
def secrets(world) -> dict:
    return {
        "b": fact(world.unit_b, repr_="Secret of B", data={"secret": "b-data"}),
        "coe": fact(None, repr_="COE-wide fact"),
    }


def all_ids(client, params=None) -> list[int]:
    """Every id the list returns, following its cursor pages."""
    found, url = [], LIST
    response = client.get(url, params or {})
    while True:
        assert response.status_code == 200, response.content
        body = response.json()
        found += [item["id"] for item in body["results"]]
        if not body["next"]:
            return found
        response = client.get(body["next"])


def test_an_auditor_lists_only_their_units_entries(as_user, world, secrets):
    client = as_user(world.auditor)
    ids = all_ids(client)
    assert ids
    visible = AuditEntry.objects.filter(pk__in=ids)
    assert set(visible.values_list("business_unit_id", flat=True)) == {world.unit_a.pk}
    assert secrets["b"].pk not in ids and secrets["coe"].pk not in ids
    assert b"Secret of B" not in client.get(LIST).content


def test_coe_staff_list_every_entry(as_user, world, secrets):
    ids = all_ids(as_user(world.coe))
    assert set(ids) == set(AuditEntry.objects.values_list("pk", flat=True))


def test_the_list_is_newest_first_in_cursor_pages(as_user, world):
    made = [fact(world.unit_a, verb="api.page") for _ in range(7)]
    client = as_user(world.auditor)
    first = client.get(LIST, {"verb": "api.page", "page_size": 3}).json()
    assert [item["id"] for item in first["results"]] == [e.pk for e in reversed(made)][:3]
    assert all_ids(client, {"verb": "api.page", "page_size": 3}) == [e.pk for e in reversed(made)]


def test_the_list_filters_like_the_pages(as_user, world):
    wanted = fact(world.unit_a, verb="api.wanted", repr_="Invoice to ACME")
    fact(world.unit_a, verb="api.other")
    client = as_user(world.auditor)
    assert all_ids(client, {"verb": "api.wanted"}) == [wanted.pk]
    assert all_ids(client, {"q": "acme", "business_unit": world.unit_a.slug}) == [wanted.pk]
    assert all_ids(client, {"since": wanted.created_at.isoformat(), "verb": "api.*"}) != []


def test_invalid_filters_are_a_json_400_naming_the_field(as_user, world):
    client = as_user(world.auditor)
    foreign = client.get(LIST, {"business_unit": world.unit_b.slug})
    assert foreign.status_code == 400
    assert "business_unit" in foreign.json()["error"]["fields"]
    window = client.get(LIST, {"since": "2030-01-02T00:00:00Z", "until": "2030-01-01T00:00:00Z"})
    assert window.status_code == 400
    assert "until" in window.json()["error"]["fields"]
    assert client.get(LIST, {"since": "yesterday"}).status_code == 400
    overflow = client.get(LIST, {"until": "9999-12-31T23:59:59-23:59"})
    assert overflow.status_code == 400
    assert "until" in overflow.json()["error"]["fields"]


def test_an_entry_carries_its_seal_once_sealed(as_user, world):
    entry = fact(world.unit_a, data={"amount": 5})
    client = as_user(world.auditor)
    pending = client.get(f"{LIST}{entry.pk}/").json()
    assert pending["seal"] is None
    assert pending["data"] == {"amount": 5}
    assert pending["business_unit"] == "unit-a"
    ledger.seal_pending()
    seal = LedgerSeal.objects.get(entry_id=entry.pk)
    sealed = client.get(f"{LIST}{entry.pk}/").json()["seal"]
    assert sealed["seq"] == seal.seq
    assert (sealed["prev_hash"], sealed["chain_hash"], sealed["content_hash"]) == (
        seal.prev_hash,
        seal.chain_hash,
        seal.content_hash,
    )


def test_an_entry_outside_scope_is_a_json_404(as_user, world, secrets):
    client = as_user(world.auditor)
    for entry in secrets.values():
        response = client.get(f"{LIST}{entry.pk}/")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_the_export_is_scoped_filtered_and_verifies_offline(as_user, world, secrets):
    mine = [fact(world.unit_a, verb="api.export") for _ in range(3)]
    fact(world.unit_b, verb="api.export", repr_="Secret of B")
    response = as_user(world.auditor).get(EXPORT, {"verb": "api.export"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/jsonl")
    lines = b"".join(response.streaming_content).decode().splitlines(keepends=True)
    assert [json.loads(line)["entry"]["id"] for line in lines[1:]] == [e.pk for e in mine]
    assert json.loads(lines[0])["filters"] == {"verb": "api.export"}
    assert "Secret of B" not in "".join(lines)
    assert ledger.verify_bundle(lines).ok


def test_the_export_answers_a_client_that_asks_for_json_lines(as_user, world):
    client = as_user(world.auditor)
    response = client.get(EXPORT, HTTP_ACCEPT="application/jsonl")
    assert response.status_code == 200
    refused = client.get(EXPORT, {"business_unit": "unit-b"}, HTTP_ACCEPT="application/json")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid"


def test_verify_answers_202_with_the_run_to_poll(as_user, world):
    client = as_user(world.auditor)
    response = client.post(VERIFY)
    assert response.status_code == 202
    body = response.json()
    run = LedgerVerification.objects.get(pk=body["id"])
    assert body["state"] == "queued"
    assert response["Location"] == body["url"] == f"/api/v1/ledger/verifications/{run.pk}/"
    tasks.verify_ledger_chain(run.pk)
    polled = client.get(body["url"]).json()
    assert polled["state"] == "ok"
    assert polled["checked"] == LedgerSeal.objects.count()
    assert polled["head_hash"] and polled["problem"] == ""


def test_a_tampered_chain_is_reported_by_seq_without_foreign_content(as_user, world, secrets):
    ledger.seal_pending()
    victim = secrets["b"]
    seq = LedgerSeal.objects.get(entry_id=victim.pk).seq
    with maintenance(), connection.cursor() as cursor:  # as the tables' owner could
        cursor.execute(
            f"UPDATE {AuditEntry._meta.db_table} SET data = %s WHERE id = %s",
            [connection.ops.adapt_json_value({"secret": "forged"}, None), victim.pk],
        )
    client = as_user(world.auditor)
    run_id = client.post(VERIFY).json()["id"]
    tasks.verify_ledger_chain(run_id)
    response = client.get(f"/api/v1/ledger/verifications/{run_id}/")
    body = response.json()
    assert body["state"] == "failed"
    assert body["problem"] == f"seq {seq}, entry id {victim.pk}: entry modified"
    assert b"Secret of B" not in response.content and b"b-data" not in response.content


def test_another_persons_run_is_404_for_an_auditor(as_user, world):
    run = ledger.request_verification(world.coe)
    response = as_user(world.auditor).get(f"/api/v1/ledger/verifications/{run.pk}/")
    assert response.status_code == 404
    assert as_user(world.coe).get(f"/api/v1/ledger/verifications/{run.pk}/").status_code == 200


@pytest.mark.parametrize("persona", ["builder_a", "supervisor_b"])
def test_people_who_audit_nothing_are_refused_and_nothing_is_queued(as_user, world, persona):
    client = as_user(getattr(world, persona))
    for method, path in [("get", LIST), ("get", EXPORT), ("post", VERIFY)]:
        response = getattr(client, method)(path)
        assert response.status_code == 403, path
        assert response.json()["error"]["code"] == "auditors_only"
    assert not LedgerVerification.objects.exists()


def test_agents_are_refused_as_people_only(as_agent, world):
    client = as_agent(world.key_a)
    for method, path in [("get", LIST), ("get", EXPORT), ("post", VERIFY)]:
        response = getattr(client, method)(path)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "people_only"
