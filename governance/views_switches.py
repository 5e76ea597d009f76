"""Kill switch pages: the switches in scope, and forms to engage and release them (htmx).

Rows come from KillSwitch.objects.for_person (freezes of the person's units and every
block); anything else is a 404. Changes go through governance.switches, which decides who
may act; a business unit or switch outside scope is a 404, one in scope but not the
person's to change is a 403.
"""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from governance import switches
from governance.models import BusinessUnit, KillSwitch
from governance.scoping import SUPERVISE

__all__ = ["BlockForm", "FreezeForm", "ReleaseForm", "block", "freeze", "release", "switch_list"]

TEMPLATE = "governance/switches.html"
RELEASED_LIMIT = 50


class FreezeForm(forms.Form):
    """Freeze one of the units the person may freeze."""

    business_unit = forms.ModelChoiceField(
        queryset=BusinessUnit.objects.none(), to_field_name="slug", empty_label=None
    )
    reason = forms.CharField(
        max_length=switches.REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Recorded in the ledger with your name.",
    )

    def __init__(self, *args, units: QuerySet[BusinessUnit], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["business_unit"].queryset = units


class BlockForm(forms.Form):
    """Block an action pattern in every business unit (COE staff)."""

    action_pattern = forms.CharField(
        max_length=switches.PATTERN_MAX,
        help_text="For example erp.payment.* or crm.opportunity.delete; * blocks everything.",
    )
    reason = forms.CharField(
        max_length=switches.REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Recorded in the ledger with your name.",
    )


class ReleaseForm(forms.Form):
    """Why the switch is released."""

    reason = forms.CharField(max_length=switches.REASON_MAX, label="Reason to release")


def _htmx_partial(request: HttpRequest) -> bool:
    """A fragment for htmx requests; boosted and history-restore requests get the page."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def _freeze_units(user) -> QuerySet[BusinessUnit]:
    """The units this person may freeze (all of them for COE staff)."""
    return BusinessUnit.objects.for_person(user, SUPERVISE)


def _context(request: HttpRequest, release_errors: dict | None = None, **extra) -> dict:
    user = request.user
    rows = KillSwitch.objects.for_person(user)
    active = list(rows.filter(active=True))
    for switch in active:
        switch.can_release = switches.may_release(user, switch)
        switch.release_error = (release_errors or {}).get(switch.pk, "")
    units = _freeze_units(user)
    context = {
        "active": active,
        "released": list(rows.filter(active=False).order_by("-released_at")[:RELEASED_LIMIT]),
        "freeze_form": FreezeForm(units=units) if units.exists() else None,
        "block_form": BlockForm() if switches.may_block(user) else None,
    }
    context.update(extra)
    return context


def _answer(request: HttpRequest, status: int = 200, **extra) -> HttpResponse:
    """The panel (htmx; always 200 so htmx swaps it and shows its errors) or the page."""
    template = TEMPLATE
    if _htmx_partial(request):
        template += "#switch-panel"
        status = 200
    return render(request, template, _context(request, **extra), status=status)


def _status(exc: switches.SwitchError) -> int:
    return 409 if isinstance(exc, switches.AlreadyDone) else 400


def _done(request: HttpRequest, notice: str) -> HttpResponse:
    if _htmx_partial(request):
        return _answer(request, notice=notice)
    messages.success(request, notice)
    return redirect("governance:switches")


@vary_on_headers("HX-Request")
def switch_list(request: HttpRequest) -> HttpResponse:
    """Active and recently released switches in scope, with the forms this person may use."""
    return _answer(request)


@require_POST
def freeze(request: HttpRequest) -> HttpResponse:
    """Freeze a business unit: 404 outside scope, 403 if the person may not freeze it."""
    user = request.user
    slug = request.POST.get("business_unit", "")
    if slug:
        unit = BusinessUnit.objects.for_person(user).filter(slug=slug).first()
        if unit is None:
            raise Http404("No such business unit.")
        if not switches.may_freeze(user, unit):
            raise PermissionDenied("Only COE staff and the unit's supervisors may freeze it.")
    units = _freeze_units(user)
    if not units.exists():
        raise PermissionDenied("Only COE staff and supervisors may freeze a business unit.")
    form = FreezeForm(request.POST, units=units)
    if not form.is_valid():
        return _answer(request, 400, freeze_form=form)
    unit = form.cleaned_data["business_unit"]
    try:
        switches.engage_freeze(user, unit, form.cleaned_data["reason"])
    except switches.NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except switches.SwitchError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return _answer(request, _status(exc), freeze_form=form)
    return _done(request, f"{unit.name} is frozen: its agents' actions are refused.")


@require_POST
def block(request: HttpRequest) -> HttpResponse:
    """Block an action pattern everywhere (COE staff only, else 403)."""
    if not switches.may_block(request.user):
        raise PermissionDenied("Only COE staff may block an action pattern.")
    form = BlockForm(request.POST)
    if not form.is_valid():
        return _answer(request, 400, block_form=form)
    pattern = form.cleaned_data["action_pattern"].strip()
    try:
        switches.engage_block(request.user, pattern, form.cleaned_data["reason"])
    except switches.NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except switches.SwitchError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return _answer(request, _status(exc), block_form=form)
    return _done(request, f"{pattern} is blocked in every business unit.")


@require_POST
def release(request: HttpRequest, pk: int) -> HttpResponse:
    """Release a switch with a reason: 404 outside scope, 403 if not the person's to release."""
    switch: KillSwitch = get_object_or_404(KillSwitch.objects.for_person(request.user), pk=pk)
    if not switches.may_release(request.user, switch):
        raise PermissionDenied("You may not release this switch.")
    form = ReleaseForm(request.POST)
    if not form.is_valid():
        return _answer(request, 400, release_errors={switch.pk: form.errors["reason"][0]})
    try:
        switches.release(request.user, switch, form.cleaned_data["reason"])
    except switches.NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except switches.AlreadyDone as exc:
        return _answer(request, 409, error=exc.message)
    except switches.SwitchError as exc:
        return _answer(request, 400, release_errors={switch.pk: exc.message})
    return _done(request, f"Released: {switch.business_unit or switch.action_pattern}.")
