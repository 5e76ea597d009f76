"""Serializer building blocks shared by every API of the project.

`StrictSerializerMixin` makes a serializer refuse input it would otherwise drop in
silence: a read-only field (state, owner, keys, id...) or an unknown field is a 400
naming that field, so a caller never believes it set something it did not.
"""

from collections.abc import Mapping

from rest_framework import serializers

from autonomy.core import api_fields

__all__ = ["ErrorDetailSerializer", "ErrorSerializer", "StrictSerializerMixin", "errors"]


class StrictSerializerMixin:
    """Reject read-only and unknown fields in the input instead of ignoring them."""

    def to_internal_value(self, data):
        refused = {}
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            for key in data:
                if key in writable:
                    continue
                if key in self.fields:
                    refused[key] = ["This field is read-only and cannot be set."]
                else:
                    refused[key] = ["Unknown field."]
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if refused and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **refused}) from exc
            raise
        if refused:
            raise serializers.ValidationError(refused)
        return value


class ErrorDetailSerializer(serializers.Serializer):
    code = api_fields.StrictCharField(help_text="Machine-readable error code.")
    message = api_fields.StrictCharField(help_text="What went wrong, for a person.")
    fields = serializers.DictField(
        child=serializers.ListField(child=api_fields.StrictCharField()),
        help_text="Field name to its error messages (input errors only).",
    )


class ErrorSerializer(serializers.Serializer):
    """The body of every API error: {"error": {"code", "message", "fields"}}."""

    error = ErrorDetailSerializer()


def errors(*statuses: int) -> dict[int, type[ErrorSerializer]]:
    """OpenAPI `responses` entries for error statuses: each answers an ErrorSerializer."""
    return dict.fromkeys(statuses, ErrorSerializer)
