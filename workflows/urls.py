"""Pages of this app, mounted at /workflows/."""

from django.urls import path

from workflows import views

app_name = "workflows"
urlpatterns = [path("what-if/", views.what_if, name="what-if")]
