"""/api/v1/actions/: an agent asks to act (POST); agents and people list actions (GET),
and read one action's status.

The list is scoped like the detail (agents see their own actions, people those of their
business units, COE staff all), filtered by the pages' FilterSet (workflows.filtersets)
and paged by a cursor on (created_at, id), newest first: stable while actions keep
arriving, and as cheap on the last page as on the first.
"""

from django.core.validators import URLValidator
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from autonomy.core import api_fields
from autonomy.core.api_errors import APIError, not_a_fault
from autonomy.core.api_pagination import BoundedCursorPagination
from autonomy.core.api_permissions import IsAgent
from autonomy.core.serializers import StrictSerializerMixin, errors
from workflows.filtersets import ActionFilterSet
from workflows.gateway import submit
from workflows.models import ActionRequest, Escalation
from workflows.serializers import (
    ActionSerializer,
    PendingActionSerializer,
    ReadAnswerSerializer,
    RefusedActionSerializer,
    SubmittedActionSerializer,
)

__all__ = ["ActionDetailView", "ActionsView", "with_latest_escalation"]

IDEMPOTENCY_HEADER = "Idempotency-Key"


class SubmitActionSerializer(StrictSerializerMixin, serializers.Serializer):
    action = api_fields.StrictRegexField(
        r"^[a-z0-9_]+(\.[a-z0-9_]+)+$", max_length=200, help_text="e.g. crm.opportunity.update"
    )
    payload = serializers.DictField(default=dict, help_text="Checked against the action's schema")
    reason = api_fields.StrictCharField(
        max_length=4000, required=False, default="", allow_blank=True
    )
    data_used = serializers.ListField(
        child=api_fields.StrictCharField(max_length=500),
        required=False,
        default=list,
        max_length=100,
    )
    task = api_fields.StrictCharField(max_length=100, required=False, allow_blank=True, default="")
    callback_url = api_fields.StrictURLField(
        max_length=500,
        required=False,
        allow_blank=True,
        default="",
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="Where the outcome is posted, signed (http or https)",
    )
    reported = serializers.DictField(
        child=serializers.FloatField(min_value=0, max_value=1e12),
        required=False,
        default=dict,
        help_text='Usage the agent reports with this action, e.g. {"spend": 0.4, "tokens": 900}',
    )


# The request body is checked by one instance built here, through run_validation(), which
# keeps nothing on the instance (unlike is_valid()) and so serves every thread: DRF deep-
# copies a serializer's declared fields for each new instance, ~0.2 ms per request here.
SUBMIT_BODY = SubmitActionSerializer()
SUBMIT_BODY.fields  # noqa: B018 (bind the fields at import, not on a request's thread)
# Actions are written by one instance too (to_representation() keeps nothing either).
ACTION_BODY = ActionSerializer()
ACTION_BODY.fields  # noqa: B018


class ActionPagination(BoundedCursorPagination):
    """Keyset pages, newest first; a cursor that is not one of ours, or whose position is
    no time, is a 400 naming it."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except Exception as exc:  # DRF answers 404 for a bad cursor; it is bad input
            raise APIError(
                status.HTTP_400_BAD_REQUEST,
                "invalid",
                "This cursor is not valid: follow the `next` and `previous` links as given.",
                {self.cursor_query_param: ["Invalid cursor."]},
            ) from exc


def with_latest_escalation(actions: QuerySet[ActionRequest]) -> QuerySet[ActionRequest]:
    """`actions` with what the API's answer shows, each carrying the id of its latest
    escalation (`latest_escalation_id`)."""
    latest = Escalation.objects.filter(action=OuterRef("pk")).order_by("-created_at")
    return actions.select_related("agent", "action_type", "decision").annotate(
        latest_escalation_id=Subquery(latest.values("pk")[:1])
    )


class ActionsView(GenericAPIView):
    """POST: submit an action (agents). GET: the actions the caller may see, filtered and
    paged (agents: their own; people: their business units'; COE staff: all)."""

    serializer_class = ActionSerializer
    filterset_class = ActionFilterSet
    pagination_class = ActionPagination

    @property
    def suspended_status(self) -> int:
        """A suspended agent's key: the gateway answers 423 Locked, the list 403."""
        return (
            status.HTTP_423_LOCKED if self.request.method == "POST" else status.HTTP_403_FORBIDDEN
        )

    def get_permissions(self):
        # The gateway (POST) is for agents only; the list for anyone signed in.
        return [IsAgent()] if self.request.method == "POST" else [IsAuthenticated()]

    def get_queryset(self) -> QuerySet[ActionRequest]:
        # Agents see their own actions; people those of the business units they may see.
        return with_latest_escalation(ActionRequest.objects.for_principal(self.request.user))

    @extend_schema(
        summary="List the actions you may see, newest first (agents: their own; people: "
        "their business units'), filtered by business unit, agent, action, state and time",
        responses={200: ActionSerializer(many=True), **errors(400, 401, 403)},
        tags=["actions"],
        operation_id="actions_list",
    )
    def get(self, request):
        """The actions the caller may see, newest first; `next` and `previous` are links
        to the neighbouring pages (follow them as given). A filter value that is not valid,
        or names a unit or agent outside the caller's scope, is a 400 naming the field."""
        actions = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(actions)
        return self.get_paginated_response(
            [ACTION_BODY.to_representation(action) for action in page]
        )

    @extend_schema(
        request=SubmitActionSerializer,
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=True,
                description="Unique per intended action; a retry with the same key is safe.",
            )
        ],
        responses={
            200: ReadAnswerSerializer,
            201: SubmittedActionSerializer,
            202: PendingActionSerializer,
            **errors(400, 401),
            403: RefusedActionSerializer,
            **errors(409, 422, 423),
            429: RefusedActionSerializer,
            **errors(502, 504),
        },
        tags=["actions"],
        operation_id="actions_submit",
    )
    def post(self, request):
        """Submit an action. 201 allowed (queued), 200 an allowed read with its data, 202
        pending approval, 403 denied, 422 invalid payload or reused key, 409 in flight, 423
        agent suspended, 429 over a rate limit, 502/504 a read that failed or timed out."""
        key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
        if not key or len(key) > 200 or not key.isprintable():
            raise APIError(
                400,
                "missing_idempotency_key",
                f"Send an {IDEMPOTENCY_HEADER} header (1-200 printable characters).",
                {IDEMPOTENCY_HEADER: ["Required."]},
            )
        answer = submit(request.user.agent, key, SUBMIT_BODY.run_validation(request.data))
        response = Response(answer.body, status=answer.status, headers=answer.headers)
        return not_a_fault(response, answer.body.get("error", {}).get("code", ""))


class ActionDetailView(APIView):
    """An action's state, decision and outcome."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses={200: ActionSerializer, **errors(401, 403, 404)},
        tags=["actions"],
        operation_id="actions_retrieve",
    )
    def get(self, request, action_id):
        actions = ActionRequest.objects.for_principal(request.user)
        action = with_latest_escalation(actions).filter(pk=action_id).first()
        if action is None:
            raise Http404
        return Response(ACTION_BODY.to_representation(action))
