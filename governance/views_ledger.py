"""The auditor's ledger pages: search, entry detail, filtered export, "verify now".

Only auditors (of at least one business unit) and COE staff get these pages; everyone
else gets a 404. Entries come from `ledger.entries_for()`: an auditor sees only the
entries of the units they audit, so a foreign entry is a 404 like a missing one.
"""

import json

from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from governance import ledger
from governance.filtersets import AuditEntryFilterSet, applied_filters
from governance.htmx import htmx_partial
from governance.models import AuditEntry, LedgerSeal, LedgerVerification

__all__ = [
    "ledger_entry",
    "ledger_export",
    "ledger_list",
    "verification_detail",
    "verify_now",
]

PAGE_SIZE = 50


def _require_auditor(request: HttpRequest) -> None:
    if not ledger.may_audit(request.user):
        raise Http404("Not found.")


def _positive_int(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if number > 0 else None


def _keyset_page(entries: QuerySet[AuditEntry], params) -> dict:
    """One page of `entries`, newest first, keyed on id: `before` pages to older entries,
    `after` to newer ones; no offsets, so deep pages cost the same as the first."""
    before, after = _positive_int(params.get("before")), _positive_int(params.get("after"))
    if after is not None:
        rows = list(entries.filter(pk__gt=after).order_by("id")[: PAGE_SIZE + 1])
        has_newer = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE][::-1]
        has_older = bool(rows) and entries.filter(pk__lt=rows[-1].pk).exists()
    else:
        window = entries if before is None else entries.filter(pk__lt=before)
        rows = list(window.order_by("-id")[: PAGE_SIZE + 1])
        has_older = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        has_newer = before is not None and bool(rows) and entries.filter(pk__gt=rows[0].pk).exists()
    return {
        "entries": rows,
        "older": rows[-1].pk if has_older else None,
        "newer": rows[0].pk if has_newer else None,
        "paged": before is not None or after is not None,
    }


def _list_context(request: HttpRequest, filterset: AuditEntryFilterSet) -> dict:
    valid = filterset.is_valid()
    page = (
        _keyset_page(filterset.qs, request.GET)
        if valid
        else {"entries": [], "older": None, "newer": None, "paged": False}
    )
    export_query = request.GET.copy()
    for key in ("before", "after"):
        export_query.pop(key, None)
    return {
        "filterset": filterset,
        "filters_valid": valid,
        "page": page,
        "export_query": export_query.urlencode(),
        "verification": ledger.verifications_for(request.user).first(),
    }


@login_required
@require_GET
@vary_on_headers("HX-Request")
def ledger_list(request: HttpRequest) -> HttpResponse:
    """Search the entries this person audits, newest first; htmx refreshes the results."""
    _require_auditor(request)
    filterset = AuditEntryFilterSet(
        request.GET, queryset=ledger.entries_for(request.user), request=request
    )
    context = _list_context(request, filterset)
    template = "governance/ledger_list.html"
    if htmx_partial(request):
        template += "#ledger-results"
    status = 200 if context["filters_valid"] else 400
    if htmx_partial(request):
        status = 200  # htmx swaps only 2xx answers; the fragment shows the errors
    return render(request, template, context, status=status)


def _neighbours(entry_seq: int, user) -> list[dict]:
    """The seals just before and after `entry_seq`, linked when their entry is in scope."""
    seals = {
        seal.seq: seal.entry_id
        for seal in LedgerSeal.objects.filter(seq__in=[entry_seq - 1, entry_seq + 1])
    }
    visible = set(
        ledger.entries_for(user).filter(pk__in=seals.values()).values_list("pk", flat=True)
    )
    return [
        {
            "label": label,
            "seq": seq,
            "entry_id": seals[seq] if seals[seq] in visible else None,
        }
        for label, seq in (("Previous", entry_seq - 1), ("Next", entry_seq + 1))
        if seq in seals
    ]


@login_required
@require_GET
def ledger_entry(request: HttpRequest, pk: int) -> HttpResponse:
    """One entry with all its fields, its data, and its chain position."""
    _require_auditor(request)
    entry = get_object_or_404(ledger.entries_for(request.user), pk=pk)
    try:
        seal = entry.seal
    except LedgerSeal.DoesNotExist:
        seal = None
    current_hash = ledger.content_hash(ledger.entry_document(entry))
    context = {
        "entry": entry,
        "data_json": json.dumps(entry.data, indent=2, sort_keys=True, ensure_ascii=False),
        "seal": seal,
        "current_hash": current_hash,
        "hash_matches": seal is not None and seal.content_hash == current_hash,
        "neighbours": _neighbours(seal.seq, request.user) if seal is not None else [],
    }
    return render(request, "governance/ledger_entry.html", context)


@login_required
@require_GET
def ledger_export(request: HttpRequest) -> HttpResponse:
    """The filtered window as a verifiable JSON Lines bundle (entries sealed first)."""
    _require_auditor(request)
    filterset = AuditEntryFilterSet(
        request.GET, queryset=ledger.entries_for(request.user), request=request
    )
    if not filterset.is_valid():
        return render(
            request, "governance/ledger_list.html", _list_context(request, filterset), status=400
        )
    ledger.seal_pending(wait=True)
    lines = ledger.filtered_bundle(
        filterset.qs,
        filters=applied_filters(request.GET),
        exported_by=request.user.get_username(),
    )
    response = StreamingHttpResponse(lines, content_type="application/jsonl; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="ledger-{stamp}.jsonl"'
    response["Cache-Control"] = "no-store"
    return response


def _verification_response(request: HttpRequest, verification: LedgerVerification):
    template = "governance/ledger_verification.html"
    if htmx_partial(request):
        template += "#verification"
    return render(request, template, {"verification": verification})


@login_required
@require_POST
def verify_now(request: HttpRequest) -> HttpResponse:
    """Queue a check of the whole chain; the result appears on the run's card."""
    _require_auditor(request)
    verification = ledger.request_verification(request.user)
    if htmx_partial(request):
        return _verification_response(request, verification)
    return redirect(reverse("governance:ledger-verification", args=[verification.pk]))


@login_required
@require_GET
@vary_on_headers("HX-Request")
def verification_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A verification run: state, entries checked, head hash and the first problem only."""
    _require_auditor(request)
    verification = get_object_or_404(ledger.verifications_for(request.user), pk=pk)
    return _verification_response(request, verification)
