"""Connectors to systems of record, every attempt to call one, and the sandbox's effects."""

from django.db import models

from autonomy.core.history import History

__all__ = ["Connector", "ConnectorAttempt", "SandboxEffect"]


class Connector(models.Model):
    """How actions of some types reach a system of record.

    `config` holds the kind's settings (http: method, url, body template, headers,
    timeout_seconds, allowed_hosts, allow_private_hosts; webhook: url; email: to, subject
    and body templates). `secrets` (secret headers, the webhook signing secret) is
    write-only: it is never shown or returned by any page or API.
    """

    class Kind(models.TextChoices):
        HTTP = "http", "HTTP request"
        WEBHOOK = "webhook", "Signed webhook"
        EMAIL = "email", "Email"
        SANDBOX = "sandbox", "Sandbox (records the effect only)"

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    config = models.JSONField(default=dict, blank=True)
    secrets = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.TextField(blank=True)
    disable_on_permanent_error = models.BooleanField(default=False)
    max_attempts = models.PositiveSmallIntegerField(default=5)
    history = History(excluded_fields=["secrets"])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ConnectorAttempt(models.Model):
    """One call to a connector: written before the call, completed after it."""

    class Outcome(models.TextChoices):
        STARTED = "started", "Started"
        SUCCEEDED = "succeeded", "Succeeded"
        TEMPORARY_ERROR = "temporary_error", "Temporary error"
        PERMANENT_ERROR = "permanent_error", "Permanent error"
        UNKNOWN = "unknown", "Unknown outcome"

    action = models.ForeignKey(  # indexed by unique_attempt_number, which leads with it
        "workflows.ActionRequest", on_delete=models.CASCADE, related_name="attempts", db_index=False
    )
    connector = models.ForeignKey(
        Connector, null=True, blank=True, on_delete=models.SET_NULL, related_name="attempts"
    )
    number = models.PositiveSmallIntegerField()
    idempotency_key = models.CharField(max_length=100)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.STARTED)
    target = models.CharField(max_length=500, blank=True, help_text="e.g. POST https://...")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    response_excerpt = models.TextField(blank=True)

    class Meta:
        ordering = ["action", "number"]
        constraints = [
            models.UniqueConstraint(fields=["action", "number"], name="unique_attempt_number")
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.action_id}: {self.outcome}"


class SandboxEffect(models.Model):
    """What an action would have done: the target of L0 shadow agents and of the demo."""

    action = models.OneToOneField(
        "workflows.ActionRequest", on_delete=models.CASCADE, related_name="sandbox_effect"
    )
    connector = models.ForeignKey(
        Connector, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    business_unit = models.ForeignKey(
        "governance.BusinessUnit", on_delete=models.PROTECT, related_name="+"
    )
    agent_slug = models.CharField(max_length=64)
    action_name = models.CharField(max_length=200)
    payload = models.JSONField(default=dict, blank=True, help_text="Sensitive fields hashed")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"sandbox: {self.agent_slug} {self.action_name}"
