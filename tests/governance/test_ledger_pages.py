"""The auditor's ledger pages: who gets them, scope, filters, numbered pages, entry detail."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from governance import ledger
from governance.models import AuditEntry, LedgerSeal

pytestmark = pytest.mark.django_db

LIST = reverse("governance:ledger")
SYSTEM = ledger.Actor.system("tests")


def detail(entry_id: int) -> str:
    return reverse("governance:ledger-entry", args=[entry_id])


def fact(unit, *, verb="test.fact", repr_="A fact", data=None, actor=SYSTEM, **fields):
    """One entry of `unit` (None: COE-wide), recorded the way services record them."""
    return ledger.record(
        verb,
        actor,
        business_unit_id=unit.pk if unit else None,
        object_type=fields.pop("object_type", "test.thing"),
        object_id=fields.pop("object_id", "1"),
        object_repr=repr_,
        data=data or {},
    )


@pytest.fixture
def secrets(world):
    """Unit B's and the COE's entries, with texts that must never reach unit A's auditor."""
    return {
        "b": fact(world.unit_b, repr_="Secret of B", data={"secret": "b-data"}),
        "coe": fact(None, repr_="COE-wide fact", data={"secret": "coe-data"}),
    }


def ids(response) -> list[int]:
    return [entry.pk for entry in response.context["page"]["entries"]]


@pytest.mark.parametrize("persona", ["builder_a", "supervisor_a", "supervisor_b"])
def test_people_who_audit_nothing_get_404_on_every_ledger_page(client, world, persona):
    client.force_login(getattr(world, persona))
    entry = fact(world.unit_a)
    assert client.get(LIST).status_code == 404
    assert client.get(detail(entry.pk)).status_code == 404
    assert client.get(reverse("governance:ledger-export")).status_code == 404
    assert client.post(reverse("governance:ledger-verify")).status_code == 404


def test_anonymous_visitors_are_sent_to_sign_in(client, world):
    response = client.get(LIST)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_navigation_offers_the_ledger_to_auditors_and_coe_only(client, world):
    for persona, shown in [("auditor", True), ("coe", True), ("builder_a", False)]:
        client.force_login(getattr(world, persona))
        assert (b'id="nav-ledger"' in client.get("/").content) is shown, persona


def test_an_auditor_of_a_sees_only_unit_a_entries(client, world, secrets):
    client.force_login(world.auditor)
    response = client.get(LIST)
    assert response.status_code == 200
    entries = response.context["page"]["entries"]
    assert entries and {entry.business_unit_id for entry in entries} == {world.unit_a.pk}
    assert b"Secret of B" not in response.content
    assert b"COE-wide fact" not in response.content


def test_coe_staff_see_every_entry_including_those_without_a_business_unit(client, world, secrets):
    client.force_login(world.coe)
    response = client.get(LIST)
    assert {secrets["b"].pk, secrets["coe"].pk} <= set(ids(response))
    unit_less = client.get(LIST, {"business_unit": "null"})
    assert ids(unit_less) and all(
        AuditEntry.objects.get(pk=pk).business_unit_id is None for pk in ids(unit_less)
    )


def test_the_business_unit_filter_offers_only_audited_units(client, world):
    client.force_login(world.auditor)
    response = client.get(LIST)
    field = response.context["filterset"].form.fields["business_unit"]
    assert list(field.queryset) == [world.unit_a]
    assert "null" not in [value for value, _ in field.choices]


def test_asking_for_another_units_entries_is_an_error_that_shows_nothing(client, world, secrets):
    client.force_login(world.auditor)
    for unit in (world.unit_b.slug, "null"):
        response = client.get(LIST, {"business_unit": unit})
        assert response.status_code == 400
        assert ids(response) == []
        assert b"Secret of B" not in response.content


def test_it_filters_by_actor_verb_object_and_text(client, world):
    wanted = fact(
        world.unit_a,
        verb="invoice.paid",
        actor=ledger.Actor("agent", "7", "payer-bot"),
        object_type="erp.invoice",
        object_id="INV-9",
        repr_="Invoice INV-9 to ACME",
    )
    fact(world.unit_a, verb="invoice.sent", repr_="Invoice INV-10 to Globex")
    client = _as(client, world.auditor)
    assert ids(client.get(LIST, {"actor": "PAYER-bot"})) == [wanted.pk]
    assert ids(client.get(LIST, {"verb": "invoice.paid"})) == [wanted.pk]
    assert len(ids(client.get(LIST, {"verb": "invoice.*"}))) == 2
    assert ids(client.get(LIST, {"object_type": "erp.invoice", "object_id": "INV-9"})) == [
        wanted.pk
    ]
    assert ids(client.get(LIST, {"q": "acme"})) == [wanted.pk]
    assert ids(client.get(LIST, {"actor_kind": "agent"})) == [wanted.pk]


def test_it_filters_by_agent_slug(client, world):
    client = _as(client, world.coe)
    response = client.get(LIST, {"actor": "agent-b"})
    assert response.status_code == 200
    assert ids(response) == []  # agents have not acted yet; their owners and the COE did
    acted = fact(world.unit_b, actor=ledger.Actor("agent", str(world.agent_b.pk), "agent-b"))
    assert ids(client.get(LIST, {"actor": "agent-b"})) == [acted.pk]


def test_it_filters_by_a_time_window(client, world):
    early = fact(world.unit_a, verb="window.early")
    middle_start = timezone.now()
    middle = fact(world.unit_a, verb="window.middle")
    middle_end = timezone.now()
    late = fact(world.unit_a, verb="window.late")
    client = _as(client, world.auditor)
    window = {"verb": "window.*"}
    since = client.get(LIST, {**window, "since": middle_start.isoformat()})
    assert ids(since) == [late.pk, middle.pk]
    until = client.get(LIST, {**window, "until": middle_end.isoformat()})
    assert ids(until) == [middle.pk, early.pk]
    both = {"since": middle_start.isoformat(), "until": middle_end.isoformat()}
    assert ids(client.get(LIST, {**window, **both})) == [middle.pk]


def test_a_window_that_ends_before_it_starts_is_refused_with_a_message(client, world):
    client = _as(client, world.auditor)
    response = client.get(LIST, {"since": "2030-01-02T00:00", "until": "2030-01-01T00:00"})
    assert response.status_code == 400
    assert b"must not be before its start" in response.content
    assert ids(response) == []


def test_htmx_gets_only_the_results_fragment(client, world):
    client = _as(client, world.auditor)
    response = client.get(LIST, {"verb": "membership.added"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    content = response.content.decode()
    assert content.lstrip().startswith('<div id="ledger-results">')
    assert "<html" not in content
    assert "membership.added" in content


def test_pages_are_numbered_newest_first_with_the_total(client, world):
    made = [fact(world.unit_a, verb="paging.step", repr_=f"step {n}") for n in range(120)]
    newest_first = [entry.pk for entry in reversed(made)]
    client = _as(client, world.auditor)
    first = client.get(LIST, {"verb": "paging.step"})
    assert ids(first) == newest_first[:50]
    content = first.content.decode()
    assert "Entries 1 to 50 of 120, newest first" in content
    assert "Page 1 of 3" in content
    assert '?verb=paging.step&amp;page=2"' in content and '?verb=paging.step&amp;page=3"' in content
    second = client.get(LIST, {"verb": "paging.step", "page": 2})
    assert ids(second) == newest_first[50:100]
    assert "Entries 51 to 100 of 120" in second.content.decode()
    third = client.get(LIST, {"verb": "paging.step", "page": 3})
    assert ids(third) == newest_first[100:]
    assert 'rel="next"' not in third.content.decode()


def test_a_page_number_past_the_end_or_not_a_number_shows_a_real_page(client, world):
    made = [fact(world.unit_a, verb="paging.step") for n in range(60)]
    client = _as(client, world.auditor)
    past = client.get(LIST, {"verb": "paging.step", "page": 99})
    assert past.status_code == 200 and ids(past) == [made[9].pk - n for n in range(10)]
    for junk in ("x", "-1", "9223372036854775808"):
        response = client.get(LIST, {"verb": "paging.step", "page": junk})
        assert response.status_code == 200, junk
        assert len(ids(response)) in (10, 50), junk


def test_the_total_counts_only_entries_in_scope(client, world, secrets):
    for _ in range(3):
        fact(world.unit_a, verb="scope.count")
    fact(world.unit_b, verb="scope.count")
    response = _as(client, world.auditor).get(LIST, {"verb": "scope.count"})
    assert response.context["page"]["total"] == 3
    assert "of 3, newest first" in response.content.decode()


def test_the_time_inputs_are_iso_text_inputs_labelled_as_such(client, world):
    response = _as(client, world.auditor).get(LIST, {"since": "2026-12-07T09:30+01:00"})
    assert response.status_code == 200
    content = response.content.decode()
    assert "From (ISO 8601, UTC)" in content and "To (ISO 8601, UTC)" in content
    assert 'type="datetime-local"' not in content
    assert 'name="since" value="2026-12-07T09:30+01:00"' in content  # shown as applied


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "12/07/2026 09:30",
        "2026-13-45T00:00",
        "2026-12-07T25:00",
        "9999-12-31T23:59:59-23:59",  # past year 9999 in UTC: the database cannot hold it
        "0001-01-01T00:00:00+23:59",
    ],
)
def test_a_time_that_is_not_iso_8601_is_a_form_error_that_shows_nothing(client, world, value):
    fact(world.unit_a)
    response = _as(client, world.auditor).get(LIST, {"until": value})
    assert response.status_code == 400
    assert ids(response) == []
    assert b"Enter an ISO 8601 date and time" in response.content


def test_an_iso_time_with_an_offset_is_applied_in_utc(client, world):
    entry = fact(world.unit_a, verb="offset.check")
    at = entry.created_at.astimezone(timezone.get_fixed_timezone(120))
    client = _as(client, world.auditor)
    just_after = (at + timedelta(seconds=1)).isoformat()
    just_before = (at - timedelta(seconds=1)).isoformat()
    assert ids(client.get(LIST, {"verb": "offset.check", "since": just_before})) == [entry.pk]
    assert ids(client.get(LIST, {"verb": "offset.check", "since": just_after})) == []


def test_the_entry_page_shows_every_field_the_data_and_its_chain_position(client, world):
    entry = fact(
        world.unit_a,
        verb="invoice.paid",
        repr_="Invoice INV-9",
        data={"amount": 125, "lines": [{"sku": "X1"}]},
    )
    ledger.seal_pending()
    seal = LedgerSeal.objects.get(entry_id=entry.pk)
    client = _as(client, world.auditor)
    response = client.get(detail(entry.pk))
    assert response.status_code == 200
    content = response.content.decode()
    for text in ("invoice.paid", "Invoice INV-9", "Unit-A", seal.prev_hash, seal.chain_hash):
        assert text in content
    assert seal.content_hash in content
    assert response.context["data_json"] == json.dumps(
        {"amount": 125, "lines": [{"sku": "X1"}]}, indent=2, sort_keys=True
    )
    assert 'id="entry-hash-ok"' in content
    assert f"seq {seal.seq}" in content


def test_an_unsealed_entry_says_it_is_pending_seal(client, world):
    entry = fact(world.unit_a)
    response = _as(client, world.auditor).get(detail(entry.pk))
    assert response.status_code == 200
    assert b'id="entry-pending"' in response.content


def test_neighbours_in_scope_are_linked_and_foreign_ones_are_not(client, world):
    before = fact(world.unit_a, repr_="Before")
    middle = fact(world.unit_a, repr_="Middle")
    after = fact(world.unit_b, repr_="Secret of B")
    ledger.seal_pending()
    seq = LedgerSeal.objects.get(entry_id=middle.pk).seq
    response = _as(client, world.auditor).get(detail(middle.pk))
    neighbours = {n["label"]: n for n in response.context["neighbours"]}
    assert neighbours["Previous"] == {"label": "Previous", "seq": seq - 1, "entry_id": before.pk}
    assert neighbours["Next"] == {"label": "Next", "seq": seq + 1, "entry_id": None}
    assert detail(before.pk).encode() in response.content
    assert detail(after.pk).encode() not in response.content
    assert b"Secret of B" not in response.content


def test_an_entry_outside_the_auditors_scope_is_404(client, world, secrets):
    client = _as(client, world.auditor)
    assert client.get(detail(secrets["b"].pk)).status_code == 404
    assert client.get(detail(secrets["coe"].pk)).status_code == 404
    assert client.get(detail(10**9)).status_code == 404


def test_coe_staff_open_any_entry(client, world, secrets):
    client = _as(client, world.coe)
    assert client.get(detail(secrets["b"].pk)).status_code == 200
    assert client.get(detail(secrets["coe"].pk)).status_code == 200


def _as(client, user):
    client.force_login(user)
    return client
