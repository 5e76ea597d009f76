"""The audit ledger: record facts in the caller's transaction, seal them into a hash chain.

How the chain is built: `record()` only INSERTs an AuditEntry, inside the caller's
transaction, so concurrent requests never wait on a shared chain head. After commit, the
sealer (a periodic task, and `verify_ledger` before it verifies) takes a lock of its own,
reads committed entries that have no seal yet in id order, and appends one LedgerSeal per
entry: seq N, the entry's content hash, and chain_hash = sha256(N | chain_hash(N-1) |
content_hash). Entries whose transactions commit late are simply sealed later. An entry
that appears far behind the chain head (older than the head by more than
AUTONOMY_LEDGER_MAX_TX_SECONDS) cannot be a late commit: the sealer leaves it unsealed and
verification reports it as inserted.
"""

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from autonomy.request_context import current_request_id
from governance.models import AuditEntry, LedgerSeal

__all__ = [
    "GENESIS_HASH",
    "Actor",
    "LedgerProblem",
    "contains_chain_hash",
    "content_hash",
    "entry_document",
    "export_bundle",
    "record",
    "seal_pending",
    "verify_bundle",
    "verify_database",
]

GENESIS_HASH = "0" * 64
BUNDLE_FORMAT = "autonomy-ledger/1"
_SEALER_LOCK_KEY = 0x4C454447  # "LEDG": the PostgreSQL advisory lock of the sealer


def _max_tx_age() -> timedelta:
    return timedelta(seconds=getattr(settings, "AUTONOMY_LEDGER_MAX_TX_SECONDS", 300))


@dataclass(frozen=True)
class Actor:
    """Who acted, as text that outlives the actor's row."""

    kind: str
    id: str
    name: str

    @classmethod
    def system(cls, name: str = "system") -> "Actor":
        return cls(AuditEntry.ActorKind.SYSTEM, "", name)

    @classmethod
    def of(cls, principal) -> "Actor":
        """The actor for a user, an agent principal (with `ledger_actor()`), or None."""
        if isinstance(principal, Actor):
            return principal
        if principal is None or not getattr(principal, "is_authenticated", True):
            return cls.system("anonymous")
        if hasattr(principal, "ledger_actor"):
            return principal.ledger_actor()
        return cls(AuditEntry.ActorKind.USER, str(principal.pk), principal.get_username())


def record(
    verb: str,
    actor: Actor,
    obj=None,
    *,
    business_unit_id: int | None = None,
    data: dict | None = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
) -> AuditEntry:
    """Append one entry in the current transaction. Never updates or locks anything."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
        object_repr = object_repr or str(obj)[:200]
        if business_unit_id is None:
            business_unit_id = getattr(obj, "business_unit_id", None)
    return AuditEntry.objects.create(
        created_at=timezone.now(),
        actor_kind=actor.kind,
        actor_id=actor.id,
        actor_name=actor.name[:200],
        verb=verb,
        object_type=object_type,
        object_id=object_id,
        object_repr=object_repr[:200],
        business_unit_id=business_unit_id,
        request_id=current_request_id.get(),
        data=data or {},
    )


def entry_document(entry: AuditEntry) -> dict:
    """The fields an entry commits to, as plain JSON values."""
    return {
        "id": entry.pk,
        "created_at": entry.created_at.isoformat(),
        "actor_kind": entry.actor_kind,
        "actor_id": entry.actor_id,
        "actor_name": entry.actor_name,
        "verb": entry.verb,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "object_repr": entry.object_repr,
        "business_unit_id": entry.business_unit_id,
        "request_id": entry.request_id,
        "data": entry.data,
    }


def content_hash(document: dict) -> str:
    """sha256 of the canonical JSON of an entry document."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def chain_hash(seq: int, prev_hash: str, entry_content_hash: str) -> str:
    """The hash that commits seal `seq` to its entry and to every seal before it."""
    return hashlib.sha256(f"{seq}|{prev_hash}|{entry_content_hash}".encode()).hexdigest()


def _lock_sealer(wait: bool) -> bool:
    """Take the sealer's lock for this transaction; on SQLite the write lock does it."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SEALER_LOCK_KEY])
            return True
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_SEALER_LOCK_KEY])
        return bool(cursor.fetchone()[0])


def seal_pending(*, wait: bool = True, batch_size: int = 2000) -> int:
    """Append seals for committed, unsealed entries in id order; returns how many.

    Only one sealer runs at a time (advisory lock); with wait=False a caller that finds
    another sealer at work returns 0 at once, since that sealer will take its entries.
    """
    sealed = 0
    while True:
        with transaction.atomic():
            if not _lock_sealer(wait):
                return sealed
            head = LedgerSeal.objects.select_related("entry").order_by("-seq").first()
            seq = head.seq if head else 0
            prev = head.chain_hash if head else GENESIS_HASH
            horizon = None
            if head is not None and head.entry_id is not None:
                head_entry = AuditEntry.objects.filter(pk=head.entry_id).first()
                if head_entry is not None:
                    horizon = head_entry.created_at - _max_tx_age()
            pending = AuditEntry.objects.filter(seal__isnull=True).order_by("id")
            if horizon is not None:
                pending = pending.filter(created_at__gte=horizon)
            entries = list(pending[:batch_size])
            if not entries:
                return sealed
            now = timezone.now()
            seals = []
            for entry in entries:
                seq += 1
                digest = content_hash(entry_document(entry))
                link = chain_hash(seq, prev, digest)
                seals.append(
                    LedgerSeal(
                        seq=seq,
                        entry_id=entry.pk,
                        content_hash=digest,
                        prev_hash=prev,
                        chain_hash=link,
                        sealed_at=now,
                    )
                )
                prev = link
            LedgerSeal.objects.bulk_create(seals)
            sealed += len(seals)
            if len(entries) < batch_size:
                return sealed


@dataclass(frozen=True)
class LedgerProblem:
    """The first place where the chain does not hold."""

    seq: int | None
    entry_id: int | None
    reason: str

    def __str__(self) -> str:
        where = []
        if self.seq is not None:
            where.append(f"seq {self.seq}")
        if self.entry_id is not None:
            where.append(f"entry id {self.entry_id}")
        return f"{', '.join(where) or 'ledger'}: {self.reason}"


@dataclass(frozen=True)
class _Link:
    seq: int
    entry_id: int
    content_hash: str
    prev_hash: str
    chain_hash: str
    document: dict | None


def _check_links(links: Iterable[_Link], start_seq: int, start_prev: str):
    """Walk links in seq order; returns (problem or None, count, last chain hash)."""
    expected_seq, prev, count = start_seq, start_prev, 0
    for link in links:
        if link.seq != expected_seq:
            reason = f"seal missing, seq {link.seq} comes next (deleted or reordered)"
            return LedgerProblem(expected_seq, None, reason), count, prev
        if link.document is None:
            return LedgerProblem(link.seq, link.entry_id, "entry deleted"), count, prev
        if link.document.get("id") != link.entry_id:
            return LedgerProblem(link.seq, link.entry_id, "entry swapped"), count, prev
        if content_hash(link.document) != link.content_hash:
            return LedgerProblem(link.seq, link.entry_id, "entry modified"), count, prev
        if link.prev_hash != prev:
            return (
                LedgerProblem(
                    link.seq,
                    link.entry_id,
                    f"chain broken: does not follow seq {link.seq - 1} (inserted or reordered)",
                ),
                count,
                prev,
            )
        if chain_hash(link.seq, link.prev_hash, link.content_hash) != link.chain_hash:
            return LedgerProblem(link.seq, link.entry_id, "seal modified"), count, prev
        prev = link.chain_hash
        expected_seq += 1
        count += 1
    return None, count, prev


def _database_links(chunk: int = 2000) -> Iterator[_Link]:
    last_seq = 0
    while True:
        seals = list(LedgerSeal.objects.filter(seq__gt=last_seq).order_by("seq")[:chunk])
        if not seals:
            return
        entries = AuditEntry.objects.in_bulk([seal.entry_id for seal in seals])
        for seal in seals:
            entry = entries.get(seal.entry_id)
            yield _Link(
                seal.seq,
                seal.entry_id,
                seal.content_hash,
                seal.prev_hash,
                seal.chain_hash,
                entry_document(entry) if entry is not None else None,
            )
        last_seq = seals[-1].seq


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    problem: LedgerProblem | None
    head_hash: str


def verify_database() -> VerifyResult:
    """Recompute the whole chain from the database and name the first bad entry."""
    problem, count, head = _check_links(_database_links(), 1, GENESIS_HASH)
    if problem is None:
        newest = LedgerSeal.objects.order_by("-seq").values_list("entry_id", flat=True).first()
        newest_entry = AuditEntry.objects.filter(pk=newest).first() if newest else None
        if newest_entry is not None:
            stale = (
                AuditEntry.objects.filter(
                    seal__isnull=True, created_at__lt=newest_entry.created_at - _max_tx_age()
                )
                .order_by("id")
                .first()
            )
            if stale is not None:
                problem = LedgerProblem(
                    None, stale.pk, "inserted behind the chain head (not sealable)"
                )
    return VerifyResult(problem is None, count, problem, head)


def contains_chain_hash(value: str) -> bool:
    """Whether a chain hash noted earlier (for example the head) is still in the chain."""
    return LedgerSeal.objects.filter(chain_hash=value).exists()


def export_bundle(stream, *, from_seq: int = 1, to_seq: int | None = None) -> int:
    """Write sealed entries from_seq..to_seq as JSON Lines that verify without the database."""
    prev = GENESIS_HASH
    if from_seq > 1:
        before = LedgerSeal.objects.filter(seq=from_seq - 1).first()
        prev = before.chain_hash if before else GENESIS_HASH
    header = {
        "format": BUNDLE_FORMAT,
        "exported_at": timezone.now().isoformat(),
        "from_seq": from_seq,
        "prev_hash": prev,
    }
    stream.write(json.dumps(header) + "\n")
    written = 0
    for link in _database_links():
        if link.seq < from_seq:
            continue
        if to_seq is not None and link.seq > to_seq:
            break
        line = {
            "seq": link.seq,
            "content_hash": link.content_hash,
            "prev_hash": link.prev_hash,
            "chain_hash": link.chain_hash,
            "entry": link.document,
        }
        stream.write(json.dumps(line, sort_keys=True, ensure_ascii=False) + "\n")
        written += 1
    return written


def verify_bundle(lines: Iterable[str]) -> VerifyResult:
    """Verify an exported JSON Lines bundle on its own."""
    iterator = iter(lines)
    try:
        header = json.loads(next(iterator))
    except (StopIteration, ValueError):
        return VerifyResult(False, 0, LedgerProblem(None, None, "not a ledger bundle"), "")
    if header.get("format") != BUNDLE_FORMAT:
        return VerifyResult(False, 0, LedgerProblem(None, None, "unknown bundle format"), "")

    def links():
        for raw in iterator:
            if not raw.strip():
                continue
            item = json.loads(raw)
            document = item.get("entry")
            yield _Link(
                item["seq"],
                (document or {}).get("id"),
                item["content_hash"],
                item["prev_hash"],
                item["chain_hash"],
                document,
            )

    try:
        problem, count, head = _check_links(
            links(), int(header.get("from_seq", 1)), header.get("prev_hash", GENESIS_HASH)
        )
    except (ValueError, KeyError, TypeError) as exc:
        return VerifyResult(False, 0, LedgerProblem(None, None, f"malformed line: {exc}"), "")
    return VerifyResult(problem is None, count, problem, head)
