"""Serializer fields that take only what the schema says: a JSON string where it documents a
string. DRF's CharField turns `0` into `"0"` and `true` is refused only by accident of
order; a client that sends a number where text is asked has made a mistake worth telling.

`ModelSerializer` builds these strict fields for a model's text columns; declared fields
use the `Strict*Field`s below. tests/autonomy/test_api_schema__conformance.py fails for
any writable API field that would still coerce.
"""

from django.db import models
from rest_framework import serializers

__all__ = [
    "ModelSerializer",
    "StrictCharField",
    "StrictEmailField",
    "StrictRegexField",
    "StrictSlugField",
    "StrictURLField",
]


class StrictTextMixin:
    """Refuse anything but a string (400 `invalid`: "Not a valid string.")."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(StrictTextMixin, serializers.CharField):
    """A CharField that takes only JSON strings."""


class StrictSlugField(StrictTextMixin, serializers.SlugField):
    """A SlugField that takes only JSON strings."""


class StrictRegexField(StrictTextMixin, serializers.RegexField):
    """A RegexField that takes only JSON strings."""


class StrictEmailField(StrictTextMixin, serializers.EmailField):
    """An EmailField that takes only JSON strings."""


class StrictURLField(StrictTextMixin, serializers.URLField):
    """A URLField that takes only JSON strings."""


class ModelSerializer(serializers.ModelSerializer):
    """DRF's ModelSerializer, with strict fields for the model's text columns."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.SlugField: StrictSlugField,
        models.EmailField: StrictEmailField,
        models.URLField: StrictURLField,
    }
