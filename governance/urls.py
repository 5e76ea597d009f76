"""Pages of this app."""

from django.urls import path

from governance import views_switches

app_name = "governance"
urlpatterns: list = []

# Kill switches
urlpatterns += [
    path("switches/", views_switches.switch_list, name="switches"),
    path("switches/freeze/", views_switches.freeze, name="switch-freeze"),
    path("switches/block/", views_switches.block, name="switch-block"),
    path("switches/<int:pk>/release/", views_switches.release, name="switch-release"),
]
