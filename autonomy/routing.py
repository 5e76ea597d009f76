"""Websocket routes: the live inbox and activity feed."""

from django.urls import path

from autonomy.consumers import ActivityConsumer

websocket_urlpatterns = [path("ws/activity/", ActivityConsumer.as_asgi())]
