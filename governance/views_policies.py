"""Policy pages: the policies a person may read, a policy's versions and rules, and the
impact preview of a draft (COE staff and the owning unit's builders)."""

from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from governance.models import DecisionRecord, Policy, PolicyVersion
from governance.scoping import BUILD, business_units_for, has_bu_perm, is_coe, scope
from governance.simulation import simulate

__all__ = ["policy_detail", "policy_impact", "policy_list", "readable_policies"]

DAY_CHOICES = (1, 7, 14, 30)


def readable_policies(user) -> QuerySet[Policy]:
    """COE policies apply to everyone and are readable by every member; business-unit
    policies only by that unit's members (and COE staff)."""
    policies = Policy.objects.select_related("business_unit")
    if is_coe(user):
        return policies
    return policies.filter(
        Q(business_unit__isnull=True) | Q(business_unit__in=business_units_for(user))
    )


def may_preview(user, policy: Policy) -> bool:
    """COE staff preview any draft; builders the drafts of their own unit's policies."""
    return is_coe(user) or (
        policy.business_unit_id is not None and has_bu_perm(user, BUILD, policy.business_unit_id)
    )


@login_required
def policy_list(request: HttpRequest) -> HttpResponse:
    versions = PolicyVersion.objects.order_by("-number")
    policies = readable_policies(request.user).prefetch_related(
        Prefetch("versions", queryset=versions)
    )
    return render(request, "governance/policy_list.html", {"policies": policies})


@login_required
def policy_detail(request: HttpRequest, slug: str) -> HttpResponse:
    policy = get_object_or_404(readable_policies(request.user), slug=slug)
    versions = policy.versions.prefetch_related("rules").order_by("-number")
    return render(
        request,
        "governance/policy_detail.html",
        {"policy": policy, "versions": versions, "may_preview": may_preview(request.user, policy)},
    )


@login_required
def policy_impact(request: HttpRequest, version_id: int) -> HttpResponse:
    """Re-decide the recent recorded requests with this draft and show what would change."""
    version = get_object_or_404(
        PolicyVersion.objects.select_related("policy__business_unit"),
        pk=version_id,
        policy__in=readable_policies(request.user),
    )
    if not may_preview(request.user, version.policy):
        raise Http404
    try:
        days = int(request.GET.get("days", 7))
    except ValueError:
        days = 7
    days = days if days in DAY_CHOICES else 7
    records = scope(DecisionRecord.objects.all(), request.user)
    impact = simulate(version, records, days=days)
    return render(
        request,
        "governance/policy_impact.html",
        {"version": version, "impact": impact, "days": days, "day_choices": DAY_CHOICES},
    )
