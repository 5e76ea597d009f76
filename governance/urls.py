"""Pages of this app."""

from django.urls import path

from governance import views_decisions, views_ledger, views_policies, views_switches

app_name = "governance"
urlpatterns: list = []

# Kill switches
urlpatterns += [
    path("switches/", views_switches.switch_list, name="switches"),
    path("switches/freeze/", views_switches.freeze, name="switch-freeze"),
    path("switches/block/", views_switches.block, name="switch-block"),
    path("switches/<int:pk>/release/", views_switches.release, name="switch-release"),
]

# The auditor's ledger
urlpatterns += [
    path("ledger/", views_ledger.ledger_list, name="ledger"),
    path("ledger/export/", views_ledger.ledger_export, name="ledger-export"),
    path("ledger/verify/", views_ledger.verify_now, name="ledger-verify"),
    path(
        "ledger/verifications/<int:pk>/",
        views_ledger.verification_detail,
        name="ledger-verification",
    ),
    path("ledger/summaries/<slug:kind>/", views_ledger.ledger_summary, name="ledger-summary"),
    path(
        "ledger/summaries/<slug:kind>/csv/",
        views_ledger.ledger_summary_csv,
        name="ledger-summary-csv",
    ),
    path("ledger/<int:pk>/", views_ledger.ledger_entry, name="ledger-entry"),
]

# Policies, their impact preview, and recorded decisions
urlpatterns += [
    path("policies/", views_policies.policy_list, name="policy-list"),
    path("policies/<slug:slug>/", views_policies.policy_detail, name="policy-detail"),
    path(
        "policy-versions/<int:version_id>/impact/",
        views_policies.policy_impact,
        name="policy-impact",
    ),
    path("decisions/<uuid:decision_id>/", views_decisions.decision_detail, name="decision-detail"),
]
