"""Signed checkpoints outside the database catch what the chain alone cannot: the newest
entries cut off with their seals, or an entry rewritten with every later seal recomputed.
Tampering is done with raw SQL under the maintenance switch, as the tables' owner could."""

import base64
import json
from io import StringIO
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command
from django.db import connection
from werkzeug import Request, Response

from governance import checkpoints, ledger, tasks
from governance.ledger_guard import maintenance
from governance.models import AuditEntry, LedgerSeal, LedgerVerification

ENTRIES = AuditEntry._meta.db_table
SEALS = LedgerSeal._meta.db_table
SYSTEM = ledger.Actor.system("tests")


def verify(**options) -> tuple[int, str]:
    """Run verify_ledger; (exit code, everything it printed)."""
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_ledger", stdout=out, stderr=err, **options)
    except SystemExit as exc:
        return exc.code, out.getvalue() + err.getvalue()
    return 0, out.getvalue() + err.getvalue()


def facts(count: int) -> list[AuditEntry]:
    return [
        ledger.record("test.fact", SYSTEM, object_type="test.thing", object_id=str(n))
        for n in range(count)
    ]


def seal_and_checkpoint() -> checkpoints.Checkpoint:
    """What the periodic sealer does: seal, then publish a checkpoint of the new head."""
    tasks.seal_ledger()
    latest = checkpoints.sink().latest()
    assert latest is not None
    return latest


def truncate_newest(count: int) -> None:
    """Delete the newest `count` entries with their seals."""
    newest = list(LedgerSeal.objects.order_by("-seq")[:count])
    with maintenance(), connection.cursor() as cursor:
        for seal in newest:
            cursor.execute(f"DELETE FROM {SEALS} WHERE seq = %s", [seal.seq])
            cursor.execute(f"DELETE FROM {ENTRIES} WHERE id = %s", [seal.entry_id])


def rewrite_and_reseal(victim: LedgerSeal) -> None:
    """Change the victim entry, then recompute its seal and every later one, consistently."""
    with maintenance(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {ENTRIES} SET verb = 'test.forged' WHERE id = %s", [victim.entry_id]
        )
        prev = victim.prev_hash
        for seal in LedgerSeal.objects.filter(seq__gte=victim.seq).order_by("seq"):
            digest = ledger.content_hash(
                ledger.entry_document(AuditEntry.objects.get(pk=seal.entry_id))
            )
            link = ledger.chain_hash(seal.seq, prev, digest)
            cursor.execute(
                f"UPDATE {SEALS} SET content_hash = %s, prev_hash = %s, chain_hash = %s "
                "WHERE seq = %s",
                [digest, prev, link, seal.seq],
            )
            prev = link


@pytest.fixture
def checkpointed(db) -> checkpoints.Checkpoint:
    facts(12)
    return seal_and_checkpoint()


def test_the_sealer_publishes_a_checkpoint_signed_with_the_key(checkpointed, settings):
    head = LedgerSeal.objects.order_by("-seq").first()
    assert (checkpointed.seq, checkpointed.chain_hash) == (head.seq, head.chain_hash)
    assert checkpointed.verifies_with(checkpoints.public_key())
    line = json.loads(Path(settings.AUTONOMY_LEDGER_CHECKPOINT_SINK).read_text().splitlines()[-1])
    assert line["format"] == checkpoints.FORMAT
    assert set(line) == {"format", "seq", "chain_hash", "time", "key_id", "signature"}


def test_a_new_checkpoint_is_published_only_when_the_head_moves(checkpointed, settings):
    tasks.seal_ledger()
    lines = Path(settings.AUTONOMY_LEDGER_CHECKPOINT_SINK).read_text().splitlines()
    assert len(lines) == 1
    facts(2)
    assert seal_and_checkpoint().seq == checkpointed.seq + 2


def test_an_intact_ledger_verifies_against_its_checkpoint(checkpointed):
    code, output = verify()
    assert code == 0
    assert f"checkpoint seq {checkpointed.seq} signed at {checkpointed.time} holds" in output


def test_with_no_checkpoint_yet_the_chain_alone_is_verified_and_said_so(db):
    facts(3)
    code, output = verify()
    assert code == 0
    assert "no checkpoint published yet" in output


def test_truncating_the_newest_entries_with_their_seals_is_caught_by_a_plain_verify(checkpointed):
    truncate_newest(3)
    assert ledger.verify_database().ok  # the shortened chain holds together on its own
    code, output = verify()
    assert code == 1
    assert f"Ledger TAMPERED (checkpoint): seq {checkpointed.seq}: not in the chain" in output
    assert f"ends at seq {checkpointed.seq - 3}" in output


def test_truncating_and_appending_new_entries_in_their_place_is_caught(checkpointed):
    truncate_newest(3)
    facts(5)
    code, output = verify()
    assert code == 1
    assert f"seq {checkpointed.seq}, entry id" in output
    assert "chain hash differs from the checkpoint" in output


def test_rewriting_an_entry_and_recomputing_every_later_seal_is_caught(checkpointed):
    victim = LedgerSeal.objects.get(seq=4)
    rewrite_and_reseal(victim)
    assert ledger.verify_database().ok  # self-consistent: the chain alone cannot tell
    code, output = verify()
    assert code == 1
    assert f"Ledger TAMPERED (checkpoint): seq {checkpointed.seq}" in output
    assert "chain hash differs from the checkpoint" in output


def test_the_sealer_refuses_to_sign_a_rewritten_chain(checkpointed, settings, caplog):
    rewrite_and_reseal(LedgerSeal.objects.get(seq=4))
    facts(2)
    with pytest.raises(checkpoints.CheckpointError, match="not signing"):
        ledger.seal_pending()
        checkpoints.publish()
    tasks.seal_ledger()  # logs, publishes nothing
    assert "ledger checkpoint not published" in caplog.text
    assert checkpoints.sink().latest() == checkpointed
    assert verify()[0] == 1


def test_a_checkpoint_signed_with_another_key_is_refused(checkpointed, settings):
    forger = Ed25519PrivateKey.generate()
    head = LedgerSeal.objects.order_by("-seq").first()
    message = checkpoints.Checkpoint.message(head.seq, head.chain_hash, "2030-01-01T00:00:00Z")
    forged = checkpoints.Checkpoint(
        head.seq,
        head.chain_hash,
        "2030-01-01T00:00:00Z",
        checkpoints.key_id(forger.public_key()),
        base64.b64encode(forger.sign(message)).decode(),
    )
    checkpoints.sink().publish(forged)
    code, output = verify()
    assert code == 1
    assert "is not signed by the checkpoint key" in output


def test_a_key_given_as_pem_text_signs_and_verifies(db, settings):
    key = Ed25519PrivateKey.generate()
    settings.AUTONOMY_LEDGER_CHECKPOINT_KEY = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    facts(2)
    published = seal_and_checkpoint()
    assert published.key_id == checkpoints.key_id(key.public_key())
    assert verify()[0] == 0


def test_the_verify_now_run_fails_on_truncation_through_the_checkpoint(world, checkpointed):
    truncate_newest(2)
    run = ledger.request_verification(world.auditor)
    assert ledger.run_verification(run.pk) == LedgerVerification.State.FAILED
    run.refresh_from_db()
    assert run.problem.startswith(f"seq {checkpointed.seq}: not in the chain")


def test_no_checkpoint_skips_the_check_when_asked(checkpointed):
    truncate_newest(1)
    assert verify(no_checkpoint=True)[0] == 0


class CheckpointServer:
    """A checkpoint log over HTTP: POST appends, GET answers the latest (404 when none)."""

    def __init__(self, httpserver):
        self.received: list[dict] = []
        self.url = httpserver.url_for("/checkpoints")
        httpserver.expect_request("/checkpoints", method="POST").respond_with_handler(self.post)
        httpserver.expect_request("/checkpoints", method="GET").respond_with_handler(self.get)

    def post(self, request: Request) -> Response:
        self.received.append(json.loads(request.get_data()))
        return Response(status=201)

    def get(self, request: Request) -> Response:
        if not self.received:
            return Response(status=404)
        return Response(json.dumps(self.received[-1]), content_type="application/json")


def test_an_http_sink_receives_checkpoints_and_verify_catches_truncation_through_it(
    db, settings, httpserver
):
    server = CheckpointServer(httpserver)
    settings.AUTONOMY_LEDGER_CHECKPOINT_SINK = server.url
    assert verify()[1].count("no checkpoint published yet") == 1
    facts(6)
    published = seal_and_checkpoint()
    assert server.received[-1]["seq"] == published.seq
    assert verify()[0] == 0
    truncate_newest(2)
    code, output = verify()
    assert code == 1
    assert f"seq {published.seq}: not in the chain" in output


def test_an_http_sink_catches_a_rewrite_with_resealing(db, settings, httpserver):
    settings.AUTONOMY_LEDGER_CHECKPOINT_SINK = CheckpointServer(httpserver).url
    facts(6)
    seal_and_checkpoint()
    rewrite_and_reseal(LedgerSeal.objects.get(seq=2))
    code, output = verify()
    assert code == 1
    assert "chain hash differs from the checkpoint" in output


def test_an_unreachable_sink_is_an_error_not_a_pass(db, settings, httpserver):
    settings.AUTONOMY_LEDGER_CHECKPOINT_SINK = httpserver.url_for("/missing-route")
    httpserver.expect_request("/missing-route").respond_with_data("down", status=503)
    facts(2)
    with pytest.raises(CommandError, match=r"Cannot check the latest checkpoint: .*HTTP 503"):
        verify()


def test_a_key_that_is_not_an_ed25519_pem_is_a_clear_error(db, settings, tmp_path):
    facts(2)
    settings.AUTONOMY_LEDGER_CHECKPOINT_KEY = "not a key"
    with pytest.raises(checkpoints.CheckpointError, match="not a PEM private key"):
        ledger.seal_pending()
        checkpoints.publish()
    settings.AUTONOMY_LEDGER_CHECKPOINT_KEY = ""
    settings.AUTONOMY_LEDGER_CHECKPOINT_KEY_FILE = str(tmp_path / "missing-dir" / "x" / "key")
    (tmp_path / "missing-dir").write_text("a file where a directory should be")
    with pytest.raises(checkpoints.CheckpointError, match="cannot read or create"):
        checkpoints.publish()


def test_a_generated_key_file_is_readable_by_its_owner_only(db, settings, tmp_path):
    settings.AUTONOMY_LEDGER_CHECKPOINT_KEY_FILE = str(tmp_path / "keys" / "checkpoint.key")
    facts(1)
    seal_and_checkpoint()
    key_file = tmp_path / "keys" / "checkpoint.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert list((tmp_path / "keys").iterdir()) == [key_file]  # no staging file left


def test_a_verifier_with_only_the_public_key_checks_the_checkpoint(checkpointed, settings):
    public = checkpoints.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    settings.AUTONOMY_LEDGER_CHECKPOINT_PUBLIC_KEY = public.decode()
    settings.AUTONOMY_LEDGER_CHECKPOINT_KEY_FILE = "/nonexistent/no-signing-key-here"
    assert verify()[0] == 0
    other = Ed25519PrivateKey.generate().public_key()
    settings.AUTONOMY_LEDGER_CHECKPOINT_PUBLIC_KEY = other.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    code, output = verify()
    assert code == 1
    assert "is not signed by the checkpoint key" in output
