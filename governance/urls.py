"""Pages of this app."""

app_name = "governance"
urlpatterns: list = []
