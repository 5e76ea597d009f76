"""The audit ledger over the API: scoped search, entries, filtered export, verification runs.

Auditors see the entries of the business units they audit; COE staff see all of them.
A foreign entry is a 404. Verification runs cover the whole chain but say only how many
entries were checked, the head hash and the first problem: never another unit's content.
"""

import json

from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from autonomy.core import api_fields
from autonomy.core.api_errors import APIError
from autonomy.core.api_pagination import BoundedCursorPagination
from autonomy.core.api_permissions import IsPerson
from autonomy.core.serializers import errors
from governance import ledger
from governance.filtersets import AuditEntryFilterSet, applied_filters
from governance.models import AuditEntry, LedgerSeal, LedgerVerification

__all__ = [
    "AuditEntrySerializer",
    "IsAuditor",
    "JSONLinesRenderer",
    "LedgerSealSerializer",
    "LedgerVerificationSerializer",
    "LedgerVerificationViewSet",
    "LedgerViewSet",
]


class IsAuditor(BasePermission):
    """Auditors of at least one business unit and COE staff; others get 403 `auditors_only`."""

    message = "Only auditors and COE staff may read or verify the ledger."
    code = "auditors_only"

    def has_permission(self, request, view) -> bool:
        return ledger.may_audit(request.user)


class LedgerSealSerializer(api_fields.ModelSerializer):
    """An entry's chain position."""

    class Meta:
        model = LedgerSeal
        fields = ["seq", "content_hash", "prev_hash", "chain_hash", "sealed_at"]
        read_only_fields = fields


class AuditEntrySerializer(api_fields.ModelSerializer):
    """One ledger entry and its seal (null while it waits for the sealer)."""

    business_unit = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    seal = serializers.SerializerMethodField()

    class Meta:
        model = AuditEntry
        fields = [*ledger.ENTRY_FIELDS, "seal"]
        read_only_fields = fields

    @extend_schema_field(LedgerSealSerializer(allow_null=True))
    def get_seal(self, entry: AuditEntry) -> dict | None:
        try:
            return LedgerSealSerializer(entry.seal).data
        except LedgerSeal.DoesNotExist:
            return None


@extend_schema_field(
    {
        "type": "string",
        "enum": LedgerVerification.State.values,
        "description": "queued, running, ok (intact), failed (tampering found), error",
    },
    component_name="LedgerVerificationStateEnum",
)
class VerificationStateField(serializers.ChoiceField):
    """A run's state, named once in the schema (agents have a `state` too)."""

    def __init__(self, **kwargs):
        super().__init__(choices=LedgerVerification.State.choices, **kwargs)


class LedgerVerificationSerializer(api_fields.ModelSerializer):
    """A verification run: its state and, once finished, counts, head hash and first problem."""

    state = VerificationStateField(read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = LedgerVerification
        fields = [
            "id",
            "state",
            "requested_by",
            "requested_at",
            "started_at",
            "finished_at",
            "checked",
            "head_hash",
            "problem",
            "url",
        ]
        read_only_fields = fields

    def get_url(self, run: LedgerVerification) -> str:
        return reverse("governance-api:ledgerverification-detail", args=[run.pk])


class JSONLinesRenderer(BaseRenderer):
    """Lets a client ask for `application/jsonl`; errors then come as one JSON line."""

    media_type = "application/jsonl"
    format = "jsonl"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        return (json.dumps(data, ensure_ascii=False) + "\n").encode()


class LedgerPagination(BoundedCursorPagination):
    """Keyset pages, newest first: stable while entries keep arriving, cheap at any depth."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


_errors = errors(401, 403)
_detail_errors = errors(401, 403, 404)


@extend_schema_view(
    list=extend_schema(
        summary="Search the ledger entries of the business units you audit (all for COE staff)",
        responses={200: AuditEntrySerializer(many=True), **errors(400), **_errors},
    ),
    retrieve=extend_schema(
        summary="One ledger entry with its chain position (404 outside your scope)",
        responses={200: AuditEntrySerializer, **_detail_errors},
    ),
)
class LedgerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Ledger entries in the caller's audit scope; filters shared with the ledger pages."""

    serializer_class = AuditEntrySerializer
    filterset_class = AuditEntryFilterSet
    permission_classes = [IsPerson, IsAuditor]
    pagination_class = LedgerPagination
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return AuditEntry.objects.for_person(self.request.user)

    @extend_schema(
        summary="Export the filtered entries as a verifiable JSON Lines bundle",
        description=(
            "The first line is a header (format `autonomy-ledger-filtered/1`, the filters, "
            "the line count and the chain head); each further line is one sealed entry with "
            "its own seal. `manage.py verify_ledger --file` checks it offline."
        ),
        filters=True,
        responses={
            (200, "application/jsonl"): OpenApiResponse(
                OpenApiTypes.STR, description="JSON Lines: a header, then one entry a line."
            ),
            **errors(400),
            **_errors,
        },
    )
    @action(detail=False, methods=["get"], renderer_classes=[JSONRenderer, JSONLinesRenderer])
    def export(self, request: Request) -> StreamingHttpResponse:
        entries = self.filter_queryset(self.get_queryset())  # 400 on invalid filters
        ledger.seal_pending(wait=True)
        lines = ledger.filtered_bundle(
            entries,
            filters=applied_filters(request.query_params),
            exported_by=request.user.get_username(),
        )
        response = StreamingHttpResponse(lines, content_type="application/jsonl; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="ledger.jsonl"'
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(
        summary="Verify the whole chain in the background; poll the run it returns",
        request=None,
        responses={202: LedgerVerificationSerializer, **_errors},
    )
    @action(detail=False, methods=["post"], serializer_class=LedgerVerificationSerializer)
    def verify(self, request: Request) -> Response:
        try:
            run = ledger.request_verification(request.user)
        except ledger.NotAllowed as exc:
            raise APIError(status.HTTP_403_FORBIDDEN, "auditors_only", str(exc)) from exc
        data = LedgerVerificationSerializer(run).data
        return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": data["url"]})


@extend_schema_view(
    retrieve=extend_schema(
        summary="One verification run: state, entries checked, head hash, first problem",
        responses={200: LedgerVerificationSerializer, **_detail_errors},
    ),
)
class LedgerVerificationViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Verification runs: COE staff see all of them, auditors their own."""

    serializer_class = LedgerVerificationSerializer
    permission_classes = [IsPerson, IsAuditor]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return LedgerVerification.objects.for_person(self.request.user)
