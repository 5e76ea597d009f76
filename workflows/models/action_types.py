"""Action types: what agents may ask to do, with the payload schema and data sensitivity.

Connectors, action requests, escalations and workflow templates join them as the gateway
and inbox are built.
"""

import functools
import json

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError

from agents.models import DataClassification
from autonomy.core.history import History

__all__ = ["MAX_READ_TIMEOUT_SECONDS", "ActionType", "RiskTier", "field_classification_errors"]

# A read is answered within the request: it must end well inside the web worker's timeout
# (gunicorn's is 30 s), decision and bookkeeping included.
MAX_READ_TIMEOUT_SECONDS = 20

ACTION_NAME = RegexValidator(
    r"^[a-z0-9_]+(\.[a-z0-9_]+)+$",
    "Use a dotted lowercase name such as crm.opportunity.update.",
)


def validate_payload_schema(value) -> None:
    """A JSON Schema (draft 2020-12) describing an object payload."""
    if not isinstance(value, dict):
        raise ValidationError("The payload schema must be a JSON object.")
    try:
        Draft202012Validator.check_schema(value)
    except SchemaError as exc:
        raise ValidationError(f"Not a valid JSON Schema: {exc.message}") from exc


@functools.lru_cache(maxsize=1024)
def _validator(schema_json: str) -> Draft202012Validator:
    """The validator of one schema (given as canonical JSON), built once per process:
    building it cost more than validating a typical payload with it."""
    return Draft202012Validator(json.loads(schema_json), format_checker=FormatChecker())


def field_classification_errors(value) -> list[str]:
    """What is wrong with a map of result field paths ("salary", "contact.email") to data
    classifications (empty when usable)."""
    if not isinstance(value, dict):
        return ["Give an object mapping field paths to classifications."]
    known = DataClassification.values
    errors = []
    for path, classification in value.items():
        if not isinstance(path, str) or not path or "" in path.split("."):
            errors.append(f"{path!r} is not a field path (names joined by dots, e.g. a.b).")
        elif classification not in known:
            errors.append(f"{path}: {classification!r} is not one of {', '.join(known)}.")
    return errors


class RiskTier(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class ActionType(models.Model):
    """A COE-defined kind of action (`crm.opportunity.update`) and how sensitive it is."""

    class Kind(models.TextChoices):
        WRITE = "write", "Changes a system of record"
        READ = "read", "Reads from a system of record"

    name = models.CharField(max_length=200, unique=True, validators=[ACTION_NAME])
    title = models.CharField(
        max_length=200,
        blank=True,
        help_text='What business users read, e.g. "Create purchase order" (empty: the name)',
    )
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.WRITE)
    payload_schema = models.JSONField(
        default=dict, blank=True, validators=[validate_payload_schema]
    )
    data_classification = models.CharField(max_length=32, default="internal")
    risk_tier = models.CharField(max_length=16, choices=RiskTier.choices, default=RiskTier.LOW)
    sensitive_fields = models.JSONField(
        default=list, blank=True, help_text="Payload fields stored only as salted hashes"
    )
    summary_fields = models.JSONField(
        default=list,
        blank=True,
        help_text=(
            'Payload fields that say what is asked, shown in the inbox, e.g. ["supplier", '
            '"amount", "currency"]'
        ),
    )
    field_classifications = models.JSONField(
        default=dict,
        blank=True,
        help_text=(
            'For reads: classifications of result fields, e.g. {"salary": "restricted", '
            '"contact.email": "confidential"}; other fields take the data classification. '
            "Fields above an agent's clearance are withheld from it."
        ),
    )
    connector = models.ForeignKey(
        "workflows.Connector",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="action_types",
        help_text="Empty: the sandbox",
    )
    approval_queue = models.ForeignKey(
        "workflows.Queue",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Where failures and escalations without a policy route go",
    )
    read_timeout_seconds = models.PositiveSmallIntegerField(
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_READ_TIMEOUT_SECONDS)],
        help_text="For read actions, answered within the request",
    )
    history = History()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def label(self) -> str:
        """What people read: the title, else the dotted name."""
        return self.title or self.name

    def payload_errors(self, payload) -> dict[str, list[str]]:
        """Field errors of `payload` against this action type's JSON Schema (draft 2020-12
        with format checks), keyed "payload" or "payload.<path>"; empty when it is valid."""
        if not isinstance(payload, dict):
            return {"payload": ["The payload must be a JSON object."]}
        if not self.payload_schema:
            return {}
        validator = _validator(json.dumps(self.payload_schema, sort_keys=True))
        errors: dict[str, list[str]] = {}
        for error in sorted(validator.iter_errors(payload), key=lambda e: list(map(str, e.path))):
            path = ".".join(str(part) for part in error.path)
            errors.setdefault(f"payload.{path}" if path else "payload", []).append(error.message)
        return errors

    def _unknown_fields(self, names: list[str]) -> list[str]:
        """The names the payload schema does not list among its properties (none when it
        lists no properties at all)."""
        schema = self.payload_schema if isinstance(self.payload_schema, dict) else {}
        properties = schema.get("properties")
        if not isinstance(properties, dict):
            return []
        return [name for name in names if name not in properties]

    def clean(self):
        errors = {}
        fields = self.sensitive_fields
        if not isinstance(fields, list) or not all(isinstance(f, str) and f for f in fields):
            errors["sensitive_fields"] = "Give a list of payload field names."
        if self.summary_fields is None:  # a cleared form field: no summary
            self.summary_fields = []
        summary = self.summary_fields
        if not isinstance(summary, list) or not all(isinstance(f, str) and f for f in summary):
            errors["summary_fields"] = "Give a list of payload field names."
        elif unknown := self._unknown_fields(summary):
            errors["summary_fields"] = f"Not a field of the payload schema: {', '.join(unknown)}."
        if self.data_classification not in DataClassification.values:
            errors["data_classification"] = f"Use one of {', '.join(DataClassification.values)}."
        if self.field_classifications is None:  # a cleared form field: nothing classified
            self.field_classifications = {}
        if problems := field_classification_errors(self.field_classifications):
            errors["field_classifications"] = problems
        connector = self.connector if self.connector_id else None
        if self.kind == self.Kind.READ and connector is not None and connector.kind == "email":
            errors["connector"] = "An email connector has nothing to answer a read with."
        if errors:
            raise ValidationError(errors)
