"""The append-only audit ledger: entries and the seals that chain them."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from autonomy.core.principals import is_coe
from governance.models.tenancy import BusinessUnit
from governance.scoping import AUDIT, ScopedQuerySet

__all__ = [
    "AppendOnlyQuerySet",
    "AuditEntry",
    "AuditEntryQuerySet",
    "LedgerSeal",
    "LedgerVerification",
    "LedgerVerificationQuerySet",
]


class AppendOnlyQuerySet(models.QuerySet):
    """Rows can be inserted and read; bulk updates and deletes are refused."""

    def update(self, **kwargs):
        raise PermissionError(f"{self.model.__name__} rows are append-only.")

    def delete(self):
        raise PermissionError(f"{self.model.__name__} rows are append-only.")


class AuditEntryQuerySet(AppendOnlyQuerySet, ScopedQuerySet):
    """Entries with their seal and unit, read by auditors: a person reads those of the
    business units they audit. Entries with no business unit (system and COE-wide facts)
    are COE staff's only."""

    def for_person(self, user, action: str = AUDIT):
        # Reading an entry takes the audit permission on its unit, whatever is asked.
        return super().for_person(user, AUDIT).select_related("seal", "business_unit")


class LedgerVerificationQuerySet(ScopedQuerySet):
    """Verification runs with who asked: COE staff read all of them, auditors their own,
    anyone else none."""

    def for_person(self, user, action: str = AUDIT):
        runs = self.select_related("requested_by")
        if is_coe(user):
            return runs
        if not BusinessUnit.objects.for_person(user, AUDIT).exists():
            return runs.none()
        return runs.filter(requested_by=user)


class AuditEntry(models.Model):
    """One immutable fact: who did what to which object, and the data behind it.

    Rows are only ever inserted (governance.ledger.record); the chain that makes them
    tamper-evident lives in LedgerSeal, appended after commit by the sealer.
    """

    class ActorKind(models.TextChoices):
        USER = "user", "Person"
        AGENT = "agent", "Agent"
        SYSTEM = "system", "System"

    created_at = models.DateTimeField(db_index=True)
    actor_kind = models.CharField(max_length=8, choices=ActorKind.choices)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_name = models.CharField(max_length=200, blank=True)
    verb = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    # A plain reference, not a constraint: the ledger outlives anything it mentions.
    business_unit = models.ForeignKey(
        BusinessUnit,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        db_index=False,  # audit_bu_time_idx leads with it
    )
    request_id = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
            models.Index(fields=["business_unit", "created_at"], name="audit_bu_time_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.actor_name} {self.verb} {self.object_type} {self.object_repr}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise PermissionError("Audit entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Audit entries are append-only.")


class LedgerSeal(models.Model):
    """A chain position: entry N's content hash chained to seal N-1's hash.

    Appended by the sealer after the entry commits, so writers never wait on each other
    for the chain head. Rows are inserted once and never changed.
    """

    seq = models.BigIntegerField(unique=True)
    entry = models.OneToOneField(
        AuditEntry, on_delete=models.DO_NOTHING, db_constraint=False, related_name="seal"
    )
    content_hash = models.CharField(max_length=64)
    prev_hash = models.CharField(max_length=64)
    chain_hash = models.CharField(max_length=64)
    sealed_at = models.DateTimeField()

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["seq"]
        constraints = [models.CheckConstraint(condition=Q(seq__gte=1), name="seal_seq_positive")]

    def __str__(self) -> str:
        return f"seal {self.seq} -> entry {self.entry_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise PermissionError("Ledger seals are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Ledger seals are append-only.")


class LedgerVerification(models.Model):
    """One run of the chain check requested from the auditor's pages, and its outcome."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        OK = "ok", "Intact"
        FAILED = "failed", "Tampering found"
        ERROR = "error", "Could not run"

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.QUEUED)
    checked = models.BigIntegerField(default=0)
    head_hash = models.CharField(max_length=64, blank=True)
    problem = models.TextField(blank=True)

    objects = LedgerVerificationQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return f"verification {self.pk}: {self.state}"
