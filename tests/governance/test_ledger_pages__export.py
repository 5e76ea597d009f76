"""Export of a filtered window: a JSON Lines bundle that verifies offline, line by line.

A filtered window is not contiguous, so each line carries its own seal; the verifier
checks every content hash and seal, and continuity where consecutive seqs meet.
"""

import json
from io import StringIO
from itertools import pairwise

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from governance import ledger
from governance.ledger_guard import maintenance
from governance.models import AuditEntry, LedgerSeal

pytestmark = pytest.mark.django_db

EXPORT = reverse("governance:ledger-export")
SYSTEM = ledger.Actor.system("tests")


def fact(unit, verb="export.fact", repr_="A fact", data=None) -> AuditEntry:
    return ledger.record(
        verb,
        SYSTEM,
        business_unit_id=unit.pk if unit else None,
        object_type="test.thing",
        object_id="1",
        object_repr=repr_,
        data=data or {},
    )


def export(client, user, **params) -> list[str]:
    client.force_login(user)
    response = client.get(EXPORT, params)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/jsonl")
    assert "attachment" in response["Content-Disposition"]
    return b"".join(response.streaming_content).decode().splitlines(keepends=True)


def verify_file(tmp_path, lines: list[str]) -> tuple[int, str]:
    """Run `verify_ledger --file` on the lines; (exit code, what it printed)."""
    path = tmp_path / "bundle.jsonl"
    path.write_text("".join(lines), encoding="utf-8")
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_ledger", file=str(path), stdout=out, stderr=err)
    except SystemExit as exc:
        return exc.code, out.getvalue() + err.getvalue()
    return 0, out.getvalue() + err.getvalue()


@pytest.fixture
def mixed(world) -> dict:
    """Interleaved entries of units A and B and COE-wide ones, so A's window has gaps."""
    made = {"a": [], "b": [], "coe": []}
    for n in range(6):
        made["a"].append(fact(world.unit_a, repr_=f"A fact {n}"))
        if n % 2:
            made["a"].append(fact(world.unit_a, repr_=f"A follow-up {n}"))
        made["b"].append(fact(world.unit_b, repr_=f"Secret of B {n}", data={"secret": n}))
        made["coe"].append(fact(None, repr_=f"COE-wide {n}"))
    return made


def test_an_auditors_export_holds_only_their_units_sealed_entries_and_verifies(
    client, world, mixed, tmp_path
):
    lines = export(client, world.auditor, verb="export.fact")
    header, body = json.loads(lines[0]), [json.loads(line) for line in lines[1:]]
    assert header["format"] == ledger.FILTERED_BUNDLE_FORMAT
    assert header["filters"] == {"verb": "export.fact"}
    assert header["exported_by"] == "auditor"
    assert header["count"] == len(body) == len(mixed["a"])
    assert {line["entry"]["id"] for line in body} == {entry.pk for entry in mixed["a"]}
    assert {line["entry"]["business_unit_id"] for line in body} == {world.unit_a.pk}
    assert "Secret of B" not in "".join(lines)
    assert [line["seq"] for line in body] == sorted(line["seq"] for line in body)
    # The window has gaps (B's and COE's entries) and consecutive runs (A's follow-ups).
    seqs = [line["seq"] for line in body]
    assert any(b - a == 1 for a, b in pairwise(seqs))
    assert any(b - a > 1 for a, b in pairwise(seqs))
    assert header["head"]["chain_hash"] == LedgerSeal.objects.order_by("-seq").first().chain_hash

    result = ledger.verify_bundle(lines)
    assert result.ok, result.problem
    assert result.checked == len(body)
    code, output = verify_file(tmp_path, lines)
    assert code == 0
    assert f"{len(body)} entries" in output


def test_the_export_seals_pending_entries_first(client, world):
    entry = fact(world.unit_a, verb="export.late")
    assert not LedgerSeal.objects.filter(entry_id=entry.pk).exists()
    lines = export(client, world.auditor, verb="export.late")
    assert [json.loads(line)["entry"]["id"] for line in lines[1:]] == [entry.pk]


def _tamper(lines: list[str], index: int, change) -> list[str]:
    item = json.loads(lines[index])
    change(item)
    return [*lines[:index], json.dumps(item, sort_keys=True) + "\n", *lines[index + 1 :]]


def test_a_modified_line_is_caught_at_its_seq(client, world, mixed, tmp_path):
    lines = export(client, world.auditor, verb="export.fact")
    victim = json.loads(lines[3])

    def forge(item):
        item["entry"]["object_repr"] = "Forged"

    forged = _tamper(lines, 3, forge)
    result = ledger.verify_bundle(forged)
    assert not result.ok
    assert (result.problem.seq, result.problem.reason) == (victim["seq"], "entry modified")
    code, output = verify_file(tmp_path, forged)
    assert code == 1
    assert f"seq {victim['seq']}, entry id {victim['entry']['id']}: entry modified" in output


def test_a_line_rehashed_to_match_its_forgery_is_caught_by_its_seal(client, world, mixed):
    lines = export(client, world.auditor, verb="export.fact")
    victim = json.loads(lines[2])

    def forge(item):
        item["entry"]["data"] = {"forged": True}
        item["content_hash"] = ledger.content_hash(item["entry"])

    result = ledger.verify_bundle(_tamper(lines, 2, forge))
    assert (result.problem.seq, result.problem.reason) == (victim["seq"], "seal modified")


def test_a_forged_seal_is_caught_where_it_meets_its_neighbour(client, world, mixed):
    lines = export(client, world.auditor, verb="export.fact")
    body = [json.loads(line) for line in lines[1:]]
    # A line whose predecessor seq is in the window: a consistent forgery of its seal
    # still has to follow the chain hash of the line before it.
    index = next(i for i in range(1, len(body)) if body[i]["seq"] == body[i - 1]["seq"] + 1)

    def forge(item):
        item["entry"]["object_repr"] = "Forged"
        item["content_hash"] = ledger.content_hash(item["entry"])
        item["prev_hash"] = "f" * 64
        item["chain_hash"] = ledger.chain_hash(item["seq"], item["prev_hash"], item["content_hash"])

    result = ledger.verify_bundle(_tamper(lines, index + 1, forge))
    assert result.problem.seq == body[index]["seq"]
    assert result.problem.reason.startswith("chain broken")


def test_removed_and_reordered_lines_are_caught(client, world, mixed):
    lines = export(client, world.auditor, verb="export.fact")
    removed = ledger.verify_bundle([*lines[:2], *lines[3:]])
    assert not removed.ok
    assert "lines missing or added" in removed.problem.reason
    swapped = ledger.verify_bundle([lines[0], lines[2], lines[1], *lines[3:]])
    assert not swapped.ok
    assert "out of order" in swapped.problem.reason


def test_an_entry_tampered_in_the_database_exports_a_bundle_that_fails(client, world, mixed):
    ledger.seal_pending()
    victim = mixed["a"][2]
    seq = LedgerSeal.objects.get(entry_id=victim.pk).seq
    with maintenance(), connection.cursor() as cursor:  # as the tables' owner could
        cursor.execute(
            f"UPDATE {AuditEntry._meta.db_table} SET object_repr = %s WHERE id = %s",
            ["Forged", victim.pk],
        )
    result = ledger.verify_bundle(export(client, world.auditor, verb="export.fact"))
    assert (result.problem.seq, result.problem.reason) == (seq, "entry modified")


def test_the_full_export_still_verifies_with_the_same_command(world, tmp_path):
    ledger.seal_pending()
    stream = StringIO()
    count = ledger.export_bundle(stream)
    code, output = verify_file(tmp_path, stream.getvalue().splitlines(keepends=True))
    assert code == 0
    assert f"{count} entries" in output


def test_an_export_with_invalid_filters_is_refused_and_writes_nothing(client, world):
    client.force_login(world.auditor)
    response = client.get(EXPORT, {"business_unit": world.unit_b.slug})
    assert response.status_code == 400
    assert not getattr(response, "streaming", False)
    assert b"Secret of B" not in response.content


def test_coe_staff_may_export_entries_without_a_business_unit(client, world, mixed):
    lines = export(client, world.coe, business_unit="null", verb="export.fact")
    ids = {json.loads(line)["entry"]["id"] for line in lines[1:]}
    assert ids == {entry.pk for entry in mixed["coe"]}
    assert ledger.verify_bundle(lines).ok
