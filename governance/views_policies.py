"""Policy pages: the policies a person may read, a policy's versions and rules, and the
impact preview of a draft (COE staff and the owning unit's builders)."""

from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from autonomy.core.principals import is_coe
from governance.models import DecisionRecord, Policy, PolicyVersion
from governance.policies import may_edit
from governance.simulation import simulate

__all__ = ["policy_detail", "policy_impact", "policy_list"]

DAY_CHOICES = (1, 7, 14, 30)


def policy_list(request: HttpRequest) -> HttpResponse:
    versions = PolicyVersion.objects.order_by("-number")
    policies = Policy.objects.for_person(request.user).prefetch_related(
        Prefetch("versions", queryset=versions)
    )
    return render(request, "governance/policy_list.html", {"policies": policies})


def policy_detail(request: HttpRequest, slug: str) -> HttpResponse:
    policy = get_object_or_404(Policy.objects.for_person(request.user), slug=slug)
    versions = policy.versions.prefetch_related("rules").order_by("-number")
    return render(
        request,
        "governance/policy_detail.html",
        {"policy": policy, "versions": versions, "may_preview": may_edit(request.user, policy)},
    )


def policy_impact(request: HttpRequest, version_id: int) -> HttpResponse:
    """Re-decide the recent recorded requests with this draft and show what would change."""
    version = get_object_or_404(
        PolicyVersion.objects.select_related("policy__business_unit").for_person(request.user),
        pk=version_id,
    )
    if not may_edit(request.user, version.policy):
        raise Http404
    try:
        days = int(request.GET.get("days", 7))
    except ValueError:
        days = 7
    days = days if days in DAY_CHOICES else 7
    records = DecisionRecord.objects.for_person(request.user)
    impact = simulate(version, records, days=days)
    return render(
        request,
        "governance/policy_impact.html",
        {
            "version": version,
            "impact": impact,
            "days": days,
            "day_choices": DAY_CHOICES,
            "admin_url": reverse("admin:governance_policyversion_change", args=[version.pk])
            if is_coe(request.user)
            else None,
        },
    )
