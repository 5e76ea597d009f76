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

Bundles: a full export ("autonomy-ledger/1") is a contiguous run of the chain and verifies
link by link. A filtered export ("autonomy-ledger-filtered/1", an auditor's search window)
is not contiguous: each line carries its own seal, so the verifier checks every entry's
content hash and every seal's chain hash, and continuity wherever consecutive seqs meet.
Its header names the chain head at export time, to compare with the live chain later
(`verify_ledger --expect-head`).

Auditors: `AuditEntry.objects.for_person()` is what a person may read (their audited
business units; COE staff everything, entries without a business unit included);
`request_verification()` queues a whole-chain check that a Celery task runs
(`run_verification()`).
"""

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from autonomy.core.compiled_sql import insert
from autonomy.core.principals import is_coe
from autonomy.core.request_context import current_request_id
from governance.models import AuditEntry, BusinessUnit, LedgerSeal, LedgerVerification
from governance.scoping import AUDIT

__all__ = [
    "BUNDLE_FORMAT",
    "ENTRY_FIELDS",
    "FILTERED_BUNDLE_FORMAT",
    "GENESIS_HASH",
    "Actor",
    "LedgerProblem",
    "NotAllowed",
    "check_links_from",
    "contains_chain_hash",
    "content_hash",
    "entry",
    "entry_document",
    "export_bundle",
    "filtered_bundle",
    "may_audit",
    "record",
    "request_verification",
    "run_verification",
    "seal_pending",
    "verify_bundle",
    "verify_database",
]

GENESIS_HASH = "0" * 64
BUNDLE_FORMAT = "autonomy-ledger/1"
FILTERED_BUNDLE_FORMAT = "autonomy-ledger-filtered/1"
# An entry's fields as people read them (admin, API), in this order.
ENTRY_FIELDS = (
    "id",
    "created_at",
    "actor_kind",
    "actor_id",
    "actor_name",
    "verb",
    "object_type",
    "object_id",
    "object_repr",
    "business_unit",
    "request_id",
    "data",
)
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
    def for_agent(cls, agent) -> "Actor":
        """An agent acting through the API (the gateway, its reads, any agent request)."""
        return cls(AuditEntry.ActorKind.AGENT, str(agent.pk), agent.slug)

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


def record(verb: str, actor: Actor, obj=None, **fields) -> AuditEntry:
    """Append one entry in the current transaction (the arguments of `entry()`). Never
    updates or locks anything."""
    appended = entry(verb, actor, obj, **fields)
    insert(appended)
    return appended


def entry(
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
    """The entry `record()` would append, unsaved: for a caller that inserts it together
    with the rows it describes (autonomy.core.compiled_sql.insert_together), in the same
    transaction."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
        object_repr = object_repr or str(obj)[:200]
        if business_unit_id is None:
            business_unit_id = getattr(obj, "business_unit_id", None)
    return AuditEntry(
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


def _entry_problem(link: _Link) -> str | None:
    """What is wrong with a link's entry against its own seal, if anything."""
    if link.document is None:
        return "entry deleted"
    if link.document.get("id") != link.entry_id:
        return "entry swapped"
    if content_hash(link.document) != link.content_hash:
        return "entry modified"
    return None


def _check_links(links: Iterable[_Link], start_seq: int, start_prev: str):
    """Walk links in seq order; returns (problem or None, count, last chain hash)."""
    expected_seq, prev, count = start_seq, start_prev, 0
    for link in links:
        if link.seq != expected_seq:
            reason = f"seal missing, seq {link.seq} comes next (deleted or reordered)"
            return LedgerProblem(expected_seq, None, reason), count, prev
        reason = _entry_problem(link)
        if reason is not None:
            return LedgerProblem(link.seq, link.entry_id, reason), count, prev
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


def _check_window(links: Iterable[_Link]):
    """Walk the links of a filtered window (ascending seqs, gaps allowed).

    Each entry must match its seal's content hash and each seal its own chain hash;
    where two consecutive seqs are both present, the later must follow the earlier,
    and seq 1 must follow the genesis hash. Returns (problem or None, count, last hash).
    """
    previous: _Link | None = None
    count, last = 0, ""
    for link in links:
        if link.seq < 1 or (previous is not None and link.seq <= previous.seq):
            after = f" after seq {previous.seq}" if previous is not None else ""
            reason = f"seq {link.seq} out of order{after} (reordered or duplicated)"
            return LedgerProblem(link.seq, link.entry_id, reason), count, last
        reason = _entry_problem(link)
        if reason is not None:
            return LedgerProblem(link.seq, link.entry_id, reason), count, last
        if link.seq == 1:
            expected_prev = GENESIS_HASH
        elif previous is not None and previous.seq == link.seq - 1:
            expected_prev = previous.chain_hash
        else:
            expected_prev = None  # the seal before this one is not in the window
        if expected_prev is not None and link.prev_hash != expected_prev:
            reason = f"chain broken: does not follow seq {link.seq - 1} (inserted or reordered)"
            return LedgerProblem(link.seq, link.entry_id, reason), count, last
        if chain_hash(link.seq, link.prev_hash, link.content_hash) != link.chain_hash:
            return LedgerProblem(link.seq, link.entry_id, "seal modified"), count, last
        previous, last = link, link.chain_hash
        count += 1
    return None, count, last


def _database_links(chunk: int = 2000, *, from_seq: int = 1) -> Iterator[_Link]:
    last_seq = from_seq - 1
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


def check_links_from(from_seq: int, prev_hash: str):
    """Recompute the chain from seal `from_seq` on, given the chain hash before it; returns
    (problem or None, links checked, last chain hash)."""
    return _check_links(_database_links(from_seq=from_seq), from_seq, prev_hash)


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
        stream.write(
            _bundle_line(
                link.seq, link.content_hash, link.prev_hash, link.chain_hash, link.document
            )
        )
        written += 1
    return written


def _bundle_line(seq: int, digest: str, prev_hash: str, link_hash: str, document) -> str:
    line = {
        "seq": seq,
        "content_hash": digest,
        "prev_hash": prev_hash,
        "chain_hash": link_hash,
        "entry": document,
    }
    return json.dumps(line, sort_keys=True, ensure_ascii=False) + "\n"


def filtered_bundle(
    entries: QuerySet[AuditEntry], *, filters: dict, exported_by: str = "", chunk: int = 2000
) -> Iterator[str]:
    """JSON Lines of the sealed entries of `entries` (already scoped and filtered), in seq
    order, each with its own seal; the header names the chain head and counts the lines.

    Entries not sealed yet are left out (and counted in the header): they have no chain
    position to verify. Seal first (`seal_pending`) to include everything committed.
    """
    head = LedgerSeal.objects.order_by("-seq").first()
    head_seq = head.seq if head else 0
    window = entries.filter(seal__seq__lte=head_seq).select_related("seal")
    header = {
        "format": FILTERED_BUNDLE_FORMAT,
        "exported_at": timezone.now().isoformat(),
        "exported_by": exported_by,
        "filters": filters,
        "count": window.count(),
        "unsealed_left_out": entries.filter(seal__isnull=True).count(),
        "head": {"seq": head_seq, "chain_hash": head.chain_hash if head else GENESIS_HASH},
    }
    yield json.dumps(header, sort_keys=True, ensure_ascii=False) + "\n"
    last_seq = 0
    while True:
        batch = list(window.filter(seal__seq__gt=last_seq).order_by("seal__seq")[:chunk])
        if not batch:
            return
        for entry in batch:
            seal = entry.seal
            yield _bundle_line(
                seal.seq, seal.content_hash, seal.prev_hash, seal.chain_hash, entry_document(entry)
            )
        last_seq = batch[-1].seal.seq


def verify_bundle(lines: Iterable[str]) -> VerifyResult:
    """Verify an exported JSON Lines bundle (full or filtered) on its own."""
    iterator = iter(lines)
    try:
        header = json.loads(next(iterator))
    except (StopIteration, ValueError):
        return VerifyResult(False, 0, LedgerProblem(None, None, "not a ledger bundle"), "")
    if not isinstance(header, dict) or header.get("format") not in (
        BUNDLE_FORMAT,
        FILTERED_BUNDLE_FORMAT,
    ):
        return VerifyResult(False, 0, LedgerProblem(None, None, "unknown bundle format"), "")

    def links():
        for raw in iterator:
            if not raw.strip():
                continue
            item = json.loads(raw)
            document = item.get("entry")
            yield _Link(
                int(item["seq"]),
                (document or {}).get("id"),
                item["content_hash"],
                item["prev_hash"],
                item["chain_hash"],
                document,
            )

    try:
        if header["format"] == FILTERED_BUNDLE_FORMAT:
            problem, count, head = _check_window(links())
            expected = header.get("count")
            if problem is None and expected is not None and expected != count:
                reason = f"the header announces {expected} entries, the bundle holds {count}"
                problem = LedgerProblem(None, None, f"lines missing or added: {reason}")
        else:
            problem, count, head = _check_links(
                links(), int(header.get("from_seq", 1)), header.get("prev_hash", GENESIS_HASH)
            )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return VerifyResult(False, 0, LedgerProblem(None, None, f"malformed line: {exc}"), "")
    return VerifyResult(problem is None, count, problem, head)


class NotAllowed(Exception):
    """The caller may not do this with the ledger."""


def may_audit(user) -> bool:
    """Auditors of at least one business unit and COE staff may read and verify the ledger."""
    return is_coe(user) or BusinessUnit.objects.for_person(user, AUDIT).exists()


def _run_window() -> timedelta:
    """How long a run may stay unfinished before it is taken as lost (the task time limit)."""
    return timedelta(seconds=getattr(settings, "CELERY_TASK_TIME_LIMIT", 300))


@transaction.atomic
def request_verification(user) -> LedgerVerification:
    """Queue a check of the whole chain for `user`, or return their run still under way.

    The check runs in a Celery task dispatched after commit; the request is recorded.
    """
    if not may_audit(user):
        raise NotAllowed("Only auditors and COE staff may verify the ledger.")
    now = timezone.now()
    unfinished = (
        LedgerVerification.objects.filter(
            requested_by=user,
            state__in=[LedgerVerification.State.QUEUED, LedgerVerification.State.RUNNING],
            requested_at__gte=now - _run_window(),
        )
        .order_by("-requested_at")
        .first()
    )
    if unfinished is not None:
        return unfinished
    verification = LedgerVerification.objects.create(
        requested_by=user, requested_at=now, state=LedgerVerification.State.QUEUED
    )
    record("ledger.verification_requested", Actor.of(user), verification)
    from governance.tasks import verify_ledger_chain  # the tasks module imports this one

    transaction.on_commit(lambda: verify_ledger_chain.delay(verification.pk))
    return verification


def _finish(verification_id: int, state: str, checked: int, head: str, problem: str) -> None:
    """Record a run's outcome once: only the run that still holds it RUNNING writes."""
    with transaction.atomic():
        finished = LedgerVerification.objects.filter(
            pk=verification_id, state=LedgerVerification.State.RUNNING
        ).update(
            state=state,
            finished_at=timezone.now(),
            checked=checked,
            head_hash=head,
            problem=problem,
        )
        if finished:
            record(
                "ledger.verified",
                Actor.system("ledger verifier"),
                object_type=LedgerVerification._meta.label_lower,
                object_id=str(verification_id),
                object_repr=f"verification {verification_id}: {state}",
                data={"state": state, "checked": checked, "head_hash": head, "problem": problem},
            )


def run_verification(verification_id: int) -> str | None:
    """Claim a queued run (or one redelivered while running), seal pending entries, check the
    whole chain and the latest signed checkpoint, and record the outcome; returns the final
    state, or None if nothing to do."""
    claimed = LedgerVerification.objects.filter(
        pk=verification_id,
        state__in=[LedgerVerification.State.QUEUED, LedgerVerification.State.RUNNING],
    ).update(state=LedgerVerification.State.RUNNING, started_at=timezone.now())
    if claimed != 1:
        return None  # finished already, or no such run
    from governance import checkpoints  # it builds on this module

    try:
        seal_pending(wait=True)
        result = verify_database()
        if result.ok:
            check = checkpoints.check_latest()
            if check.problem is not None:
                result = VerifyResult(False, result.checked, check.problem, result.head_hash)
    except Exception as exc:
        # Whatever broke, the run must not stay "running" forever: report it on the row.
        state = LedgerVerification.State.ERROR
        detail = str(exc) if isinstance(exc, checkpoints.CheckpointError) else type(exc).__name__
        _finish(verification_id, state, 0, "", f"The check could not run: {detail}.")
        return state
    state = LedgerVerification.State.OK if result.ok else LedgerVerification.State.FAILED
    problem = str(result.problem) if result.problem is not None else ""
    _finish(verification_id, state, result.checked, result.head_hash, problem)
    return state
