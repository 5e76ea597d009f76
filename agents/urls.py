"""Pages of this app."""

app_name = "agents"
urlpatterns: list = []
