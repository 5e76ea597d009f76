"""Queues over the API: where escalations wait, their SLA and warning time (in seconds and
in human units), where they go when the SLA runs out, and whether the caller works them.

People only. A person reads the queues they may work and those of their business units
(COE staff: all); any other is a 404. Queues are configured in Django admin (COE staff),
through workflows.catalog, which records each change in the ledger.
"""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets

from autonomy.core.api_permissions import IsPerson
from autonomy.core.serializers import errors
from governance.durations import human_duration
from workflows.models import WORK, Queue

__all__ = ["QueueSerializer", "QueueViewSet"]


class QueueSerializer(serializers.ModelSerializer):
    """A queue as the people who see it read it."""

    business_unit = serializers.CharField(
        source="business_unit.slug",
        allow_null=True,
        read_only=True,
        help_text="The unit's slug; null for a COE queue",
    )
    parent = serializers.CharField(
        source="parent.slug",
        allow_null=True,
        read_only=True,
        help_text="Where escalations go when the SLA runs out; null at the chain's end",
    )
    sla = serializers.SerializerMethodField(help_text='The SLA in human units, e.g. "4 h"')
    warn_before = serializers.SerializerMethodField(
        help_text='How long before the SLA runs out the queue is warned, e.g. "15 min"'
    )
    you_work_it = serializers.SerializerMethodField(
        help_text="Whether you may claim and decide its escalations"
    )

    class Meta:
        model = Queue
        fields = [
            "slug",
            "name",
            "business_unit",
            "parent",
            "sla_seconds",
            "sla",
            "warn_before_seconds",
            "warn_before",
            "you_work_it",
        ]
        read_only_fields = fields

    def get_sla(self, queue: Queue) -> str:
        return human_duration(queue.sla_seconds)

    def get_warn_before(self, queue: Queue) -> str:
        return human_duration(queue.warn_before_seconds)

    def get_you_work_it(self, queue: Queue) -> bool:
        return queue.pk in self.context["workable"]


@extend_schema_view(
    list=extend_schema(
        summary="Queues you may work or whose business unit you belong to (all for COE staff)",
        responses={200: QueueSerializer(many=True), **errors(401, 403)},
    ),
    retrieve=extend_schema(
        summary="One queue (404 outside your scope)",
        responses={200: QueueSerializer, **errors(401, 403, 404)},
    ),
)
class QueueViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Queues in the caller's scope, by slug."""

    serializer_class = QueueSerializer
    permission_classes = [IsPerson]
    queryset = Queue.objects.none()  # for the schema; rows come from get_queryset
    lookup_field = "slug"

    def get_queryset(self):
        return (
            Queue.objects.for_person(self.request.user)
            .select_related("business_unit", "parent")
            .order_by("name", "pk")
        )

    def get_serializer_context(self) -> dict:
        context = super().get_serializer_context()
        user = getattr(self.request, "user", None)
        context["workable"] = set(Queue.objects.for_person(user, WORK).values_list("pk", flat=True))
        return context
