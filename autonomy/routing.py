"""Websocket routes. The live inbox and activity consumers are added by the gateway work."""

websocket_urlpatterns: list = []
