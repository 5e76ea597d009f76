"""The shape the API's configuration resources share (agents, agent roles, business units,
policies): listed, read and created, each looked up by its slug."""

from rest_framework import mixins, viewsets

__all__ = ["SlugViewSet"]


class SlugViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """List, retrieve and create; a row's URL names its slug."""

    lookup_field = "slug"
