"""The ledger's hash chain: `verify_ledger` passes an intact ledger and names the first bad
entry when one is modified, deleted, inserted or swapped (tampering is done with raw SQL,
the way an attacker with database access would do it)."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from governance import ledger
from governance.ledger_guard import maintenance
from governance.models import AuditEntry, LedgerSeal

ENTRIES = AuditEntry._meta.db_table
SEALS = LedgerSeal._meta.db_table
CONTENT_COLUMNS = [
    "created_at",
    "actor_kind",
    "actor_id",
    "actor_name",
    "verb",
    "object_type",
    "object_id",
    "object_repr",
    "business_unit_id",
    "request_id",
    "data",
]


def verify(**options) -> tuple[int, str]:
    """Run verify_ledger; (exit code, everything it printed)."""
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_ledger", stdout=out, stderr=err, **options)
    except SystemExit as exc:
        return exc.code, out.getvalue() + err.getvalue()
    return 0, out.getvalue() + err.getvalue()


def sql(statement: str, params=()) -> list[tuple]:
    """Run SQL as an attacker who owns the database would: with the triggers out of the way."""
    with maintenance(), connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def chain() -> list[LedgerSeal]:
    return list(LedgerSeal.objects.order_by("seq"))


def insert_entry_raw(created_at, verb: str = "agent.approve") -> int:
    """Insert an entry behind the application's back; returns its id."""
    values = [
        connection.ops.adapt_datetimefield_value(created_at),
        "user",
        "1",
        "mallory",
        verb,
        "agents.agent",
        "1",
        "Agent A",
        None,
        "",
        connection.ops.adapt_json_value({"from": "pending_review", "to": "active"}, None),
    ]
    columns = ", ".join(CONTENT_COLUMNS)
    placeholders = ", ".join(["%s"] * len(values))
    sql(f"INSERT INTO {ENTRIES} ({columns}) VALUES ({placeholders})", values)
    return sql(f"SELECT MAX(id) FROM {ENTRIES}")[0][0]


@pytest.fixture
def sealed(world) -> list[LedgerSeal]:
    """The world's ledger (a dozen entries and more), fully sealed."""
    ledger.seal_pending()
    seals = chain()
    assert len(seals) >= 10
    return seals


def test_an_intact_ledger_verifies_and_exits_zero(sealed):
    code, output = verify()
    assert code == 0
    assert f"{len(sealed)} entries" in output


def test_verify_seals_pending_entries_first(sealed, world):
    ledger.record("test.late", ledger.Actor.system("tests"), world.agent_a)
    code, output = verify()
    assert code == 0
    assert f"{len(sealed) + 1} entries" in output


@pytest.mark.parametrize("column", ["verb", "actor_name", "object_id", "request_id"])
def test_it_names_the_entry_whose_content_was_modified(sealed, column):
    victim = sealed[4]
    sql(f"UPDATE {ENTRIES} SET {column} = %s WHERE id = %s", ["forged", victim.entry_id])
    code, output = verify()
    assert code == 1
    assert f"seq {victim.seq}, entry id {victim.entry_id}: entry modified" in output


def test_it_names_the_entry_whose_data_was_modified(sealed):
    victim = sealed[6]
    forged = connection.ops.adapt_json_value({"from": "active", "to": "active"}, None)
    sql(f"UPDATE {ENTRIES} SET data = %s WHERE id = %s", [forged, victim.entry_id])
    code, output = verify()
    assert code == 1
    assert f"seq {victim.seq}, entry id {victim.entry_id}: entry modified" in output


def test_it_names_an_entry_whose_row_was_deleted(sealed):
    victim = sealed[3]
    sql(f"DELETE FROM {ENTRIES} WHERE id = %s", [victim.entry_id])
    code, output = verify()
    assert code == 1
    assert f"seq {victim.seq}, entry id {victim.entry_id}: entry deleted" in output


def test_it_names_the_position_of_an_entry_deleted_with_its_seal(sealed):
    victim = sealed[3]
    sql(f"DELETE FROM {SEALS} WHERE seq = %s", [victim.seq])
    sql(f"DELETE FROM {ENTRIES} WHERE id = %s", [victim.entry_id])
    code, output = verify()
    assert code == 1
    assert f"seq {victim.seq}: seal missing, seq {victim.seq + 1} comes next" in output


def test_it_names_the_position_of_a_deleted_seal(sealed):
    victim = sealed[3]
    sql(f"DELETE FROM {SEALS} WHERE seq = %s", [victim.seq])
    code, output = verify()
    assert code == 1
    assert f"seq {victim.seq}: seal missing" in output


def test_it_names_a_back_dated_entry_inserted_behind_the_chain_head(sealed):
    forged_id = insert_entry_raw(timezone.now() - timedelta(days=2))
    code, output = verify()
    assert code == 1
    assert f"entry id {forged_id}: inserted behind the chain head" in output
    assert not LedgerSeal.objects.filter(entry_id=forged_id).exists()


def test_it_names_the_first_link_after_a_forged_seal_inserted_mid_chain(sealed):
    position = sealed[5]
    forged_id = insert_entry_raw(AuditEntry.objects.get(pk=position.entry_id).created_at)
    # Make room at `position.seq`: shift every later seal up by one (in two steps, so
    # the unique seq never collides), then fill the gap with a correctly hashed seal.
    sql(f"UPDATE {SEALS} SET seq = seq + 1000000 WHERE seq >= %s", [position.seq])
    sql(f"UPDATE {SEALS} SET seq = seq - 999999 WHERE seq >= 1000000")
    previous = sealed[4].chain_hash
    digest = ledger.content_hash(ledger.entry_document(AuditEntry.objects.get(pk=forged_id)))
    link = ledger.chain_hash(position.seq, previous, digest)
    sql(
        f"INSERT INTO {SEALS} (seq, entry_id, content_hash, prev_hash, chain_hash, sealed_at) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        [
            position.seq,
            forged_id,
            digest,
            previous,
            link,
            connection.ops.adapt_datetimefield_value(position.sealed_at),
        ],
    )
    code, output = verify()
    assert code == 1
    # The forged seal itself is consistent with what precedes it; the chain breaks at
    # the genuine entry it displaced.
    assert f"seq {position.seq + 1}, entry id {position.entry_id}: chain broken" in output


def test_it_names_the_first_of_two_entries_whose_contents_were_swapped(sealed):
    first, second = sealed[2], sealed[7]
    columns = ", ".join(CONTENT_COLUMNS)
    rows = {
        row[0]: row[1:]
        for row in sql(
            f"SELECT id, {columns} FROM {ENTRIES} WHERE id IN (%s, %s)",
            [first.entry_id, second.entry_id],
        )
    }
    assignments = ", ".join(f"{column} = %s" for column in CONTENT_COLUMNS)
    for target, source in ((first, second), (second, first)):
        values = list(rows[source.entry_id])
        values[-1] = connection.ops.adapt_json_value(_json(values[-1]), None)
        sql(f"UPDATE {ENTRIES} SET {assignments} WHERE id = %s", [*values, target.entry_id])
    code, output = verify()
    assert code == 1
    assert f"seq {first.seq}, entry id {first.entry_id}: entry modified" in output


def test_it_names_the_first_of_two_seals_whose_positions_were_swapped(sealed):
    first, second = sealed[2], sealed[7]
    sql(f"UPDATE {SEALS} SET seq = %s WHERE seq = %s", [1000000, first.seq])
    sql(f"UPDATE {SEALS} SET seq = %s WHERE seq = %s", [first.seq, second.seq])
    sql(f"UPDATE {SEALS} SET seq = %s WHERE seq = %s", [second.seq, 1000000])
    code, output = verify()
    assert code == 1
    assert f"seq {first.seq}, entry id {second.entry_id}: chain broken" in output


def _json(value):
    """A JSON column as read by a raw cursor: text on SQLite, parsed on PostgreSQL."""
    return json.loads(value) if isinstance(value, str) else value


def test_seal_pending_is_idempotent(world):
    first = ledger.seal_pending()
    assert first == AuditEntry.objects.count()
    assert ledger.seal_pending() == 0
    assert LedgerSeal.objects.count() == first
    late = ledger.record("test.late", ledger.Actor.system("tests"))
    assert ledger.seal_pending() == 1
    assert LedgerSeal.objects.get(entry=late).seq == first + 1
    assert ledger.seal_pending() == 0


def test_an_exported_bundle_verifies_offline(sealed, tmp_path, django_assert_num_queries):
    bundle = tmp_path / "ledger.jsonl"
    code, output = verify(export=str(bundle))
    assert code == 0
    assert f"Exported {len(sealed)} entries" in output
    with django_assert_num_queries(0):
        code, output = verify(file=str(bundle))
    assert code == 0
    assert f"Ledger OK ({bundle}): {len(sealed)} entries" in output


def _rewrite(bundle, edit) -> None:
    lines = bundle.read_text(encoding="utf-8").splitlines()
    bundle.write_text("\n".join(edit(lines)) + "\n", encoding="utf-8")


def test_a_modified_line_in_a_bundle_is_named_by_its_seq(sealed, tmp_path):
    bundle = tmp_path / "ledger.jsonl"
    assert verify(export=str(bundle))[0] == 0

    def forge(lines):
        item = json.loads(lines[4])  # line 0 is the header
        item["entry"]["actor_name"] = "someone else"
        lines[4] = json.dumps(item)
        return lines

    _rewrite(bundle, forge)
    code, output = verify(file=str(bundle))
    assert code == 1
    assert f"seq 4, entry id {sealed[3].entry_id}: entry modified" in output


def test_a_deleted_line_in_a_bundle_is_named_by_its_seq(sealed, tmp_path):
    bundle = tmp_path / "ledger.jsonl"
    assert verify(export=str(bundle))[0] == 0
    _rewrite(bundle, lambda lines: lines[:5] + lines[6:])
    code, output = verify(file=str(bundle))
    assert code == 1
    assert "seq 5: seal missing, seq 6 comes next (deleted or reordered)" in output


def test_swapped_lines_in_a_bundle_are_named_by_the_first_seq(sealed, tmp_path):
    bundle = tmp_path / "ledger.jsonl"
    assert verify(export=str(bundle))[0] == 0

    def swap(lines):
        lines[3], lines[6] = lines[6], lines[3]
        return lines

    _rewrite(bundle, swap)
    code, output = verify(file=str(bundle))
    assert code == 1
    assert "seq 3: seal missing, seq 6 comes next (deleted or reordered)" in output


def test_a_file_that_is_not_a_bundle_is_refused(tmp_path, db):
    bogus = tmp_path / "bogus.jsonl"
    bogus.write_text('{"hello": "world"}\n', encoding="utf-8")
    code, output = verify(file=str(bogus))
    assert code == 1
    assert "unknown bundle format" in output


def test_a_tampered_ledger_is_not_exported(sealed, tmp_path):
    sql(f"UPDATE {ENTRIES} SET verb = %s WHERE id = %s", ["forged", sealed[1].entry_id])
    bundle = tmp_path / "ledger.jsonl"
    code, output = verify(export=str(bundle))
    assert code == 1
    assert f"seq 2, entry id {sealed[1].entry_id}: entry modified" in output
    assert not bundle.exists()


def test_expect_head_catches_the_newest_entries_deleted_with_their_seals(db, capsys):
    for n in range(3):
        ledger.record("test.fact", ledger.Actor.system(), object_type="t", object_id=str(n))
    ledger.seal_pending()
    head = LedgerSeal.objects.order_by("-seq").first()
    call_command("verify_ledger", expect_head=head.chain_hash)
    with maintenance(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM governance_ledgerseal WHERE seq = %s", [head.seq])
        cursor.execute("DELETE FROM governance_auditentry WHERE id = %s", [head.entry_id])
    call_command("verify_ledger", "--no-seal")  # the shortened chain is self-consistent
    with pytest.raises(SystemExit) as exited:
        call_command("verify_ledger", "--no-seal", expect_head=head.chain_hash)
    assert exited.value.code == 1
    assert head.chain_hash[:16] in capsys.readouterr().err
