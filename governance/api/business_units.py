"""Business units over the API: a person sees the units they belong to; COE staff create them."""

from django.db import IntegrityError
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers

from autonomy.core import api_fields
from autonomy.core.api_permissions import IsCOEOrReadOnly, IsPerson
from autonomy.core.serializers import StrictSerializerMixin, errors
from governance import services
from governance.api.viewsets import SlugViewSet
from governance.models import BusinessUnit

__all__ = ["BusinessUnitSerializer", "BusinessUnitViewSet"]


class BusinessUnitSerializer(StrictSerializerMixin, api_fields.ModelSerializer):
    """A business unit; created only through governance.services.create_business_unit."""

    class Meta:
        model = BusinessUnit
        fields = ["id", "slug", "name", "description", "created_at"]
        read_only_fields = ["id", "created_at"]

    def create(self, validated_data) -> BusinessUnit:
        try:
            return services.create_business_unit(self.context["request"].user, **validated_data)
        except IntegrityError as exc:
            # Another request took the slug or name between validation and insert.
            raise serializers.ValidationError(
                {"slug": ["A business unit with this slug or name already exists."]}
            ) from exc


_errors = errors(401, 403)


@extend_schema_view(
    list=extend_schema(
        summary="List the business units you belong to (all of them for COE staff)",
        responses={200: BusinessUnitSerializer(many=True), **_errors},
    ),
    retrieve=extend_schema(
        summary="One business unit (404 outside your scope)",
        responses={200: BusinessUnitSerializer, **errors(404), **_errors},
    ),
    create=extend_schema(
        summary="Create a business unit (COE staff only)",
        responses={201: BusinessUnitSerializer, **errors(400), **_errors},
    ),
)
class BusinessUnitViewSet(SlugViewSet):
    """Business units in the caller's scope, looked up by slug."""

    queryset = BusinessUnit.objects.all()
    serializer_class = BusinessUnitSerializer
    permission_classes = [IsPerson, IsCOEOrReadOnly]

    def get_queryset(self):
        return super().get_queryset().for_person(self.request.user)
