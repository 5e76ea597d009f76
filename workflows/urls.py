"""Pages of this app, mounted at /workflows/."""

from django.urls import path

from workflows import views, views_actions, views_inbox

app_name = "workflows"
urlpatterns = [
    path("what-if/", views.what_if, name="what-if"),
    path("inbox/", views_inbox.inbox_list, name="inbox"),
    path("inbox/bulk/", views_inbox.inbox_bulk, name="inbox-bulk"),
    path("inbox/counts/", views_inbox.inbox_counts, name="inbox-counts"),
    path("inbox/<uuid:pk>/", views_inbox.escalation_detail, name="escalation-detail"),
    path("inbox/<uuid:pk>/claim/", views_inbox.claim, name="escalation-claim"),
    path("inbox/<uuid:pk>/unclaim/", views_inbox.unclaim, name="escalation-unclaim"),
    path("inbox/<uuid:pk>/approve/", views_inbox.approve, name="escalation-approve"),
    path("inbox/<uuid:pk>/edit/", views_inbox.edit_and_approve, name="escalation-edit"),
    path("inbox/<uuid:pk>/reject/", views_inbox.reject, name="escalation-reject"),
    path("inbox/<uuid:pk>/reassign/", views_inbox.reassign, name="escalation-reassign"),
    path("inbox/<uuid:pk>/reconcile/", views_inbox.reconcile, name="escalation-reconcile"),
    path(
        "inbox/<uuid:pk>/suspend-agent/",
        views_inbox.suspend_agent,
        name="escalation-suspend-agent",
    ),
    path("activity/", views_actions.activity, name="activity"),
    path("actions/<uuid:pk>/", views_actions.action_detail, name="action-detail"),
]
