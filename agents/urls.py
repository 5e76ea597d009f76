"""Pages of this app, mounted at /agents/."""

from django.urls import path

from agents import views

app_name = "agents"
urlpatterns = [
    path("", views.agent_list, name="list"),
    path("register/", views.register, name="register"),
    path("review/", views.review_queue, name="review"),
    path("<slug:slug>/", views.agent_detail, name="detail"),
    path("<slug:slug>/keys/", views.issue_key, name="issue-key"),
    path("<slug:slug>/keys/<slug:prefix>/revoke/", views.revoke_key, name="revoke-key"),
    path("<slug:slug>/transitions/<slug:name>/", views.run_transition, name="transition"),
]
