"""The auditor's ledger pages: search (numbered pages with the total), entry detail,
filtered export, "verify now".

Only auditors (of at least one business unit) and COE staff get these pages; everyone
else gets a 404. Entries come from `AuditEntry.objects.for_person()`: an auditor sees only the
entries of the units they audit, so a foreign entry is a 404 like a missing one.
"""

import csv
import json
from datetime import datetime, timedelta

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from autonomy.core.htmx import htmx_partial
from governance import ledger, ledger_summaries
from governance.filtersets import AuditEntryFilterSet, LedgerSummaryFilterSet, applied_filters
from governance.models import AuditEntry, LedgerSeal, LedgerVerification

__all__ = [
    "ledger_entry",
    "ledger_export",
    "ledger_list",
    "ledger_summary",
    "ledger_summary_csv",
    "verification_detail",
    "verify_now",
]

PAGE_SIZE = 50
SUMMARY_WINDOW = timedelta(days=7)  # when the form leaves an end of the window empty
_SUMMARY_TABS = [("people", "Per person"), ("rules", "Per policy rule"), ("agents", "Per agent")]


def _require_auditor(request: HttpRequest) -> None:
    if not ledger.may_audit(request.user):
        raise Http404("Not found.")


def _page(entries: QuerySet[AuditEntry], number: str | None) -> dict:
    """One numbered page of `entries`, newest first, with the total; a page number past the
    end (or not a number) shows the last (or first) page, as Paginator.get_page does."""
    paginator = Paginator(entries.order_by("-id"), PAGE_SIZE)
    page = paginator.get_page(number)
    return {
        "entries": list(page.object_list),
        "page": page,
        "total": paginator.count,
        "numbers": list(paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1)),
        "ellipsis": Paginator.ELLIPSIS,
    }


def _list_context(request: HttpRequest, filterset: AuditEntryFilterSet) -> dict:
    valid = filterset.is_valid()
    page = _page(filterset.qs, request.GET.get("page")) if valid else {"entries": [], "total": 0}
    export_query = request.GET.copy()
    export_query.pop("page", None)
    return {
        "filterset": filterset,
        "filters_valid": valid,
        "page": page,
        "export_query": export_query.urlencode(),
        "verification": LedgerVerification.objects.for_person(request.user).first(),
    }


@require_GET
@vary_on_headers("HX-Request")
def ledger_list(request: HttpRequest) -> HttpResponse:
    """Search the entries this person audits, newest first; htmx refreshes the results."""
    _require_auditor(request)
    filterset = AuditEntryFilterSet(
        request.GET, queryset=AuditEntry.objects.for_person(request.user), request=request
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
        AuditEntry.objects.for_person(user)
        .filter(pk__in=seals.values())
        .values_list("pk", flat=True)
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


@require_GET
def ledger_entry(request: HttpRequest, pk: int) -> HttpResponse:
    """One entry with all its fields, its data, and its chain position."""
    _require_auditor(request)
    entry = get_object_or_404(AuditEntry.objects.for_person(request.user), pk=pk)
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


@require_GET
def ledger_export(request: HttpRequest) -> HttpResponse:
    """The filtered window as a verifiable JSON Lines bundle (entries sealed first)."""
    _require_auditor(request)
    filterset = AuditEntryFilterSet(
        request.GET, queryset=AuditEntry.objects.for_person(request.user), request=request
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


@require_POST
def verify_now(request: HttpRequest) -> HttpResponse:
    """Queue a check of the whole chain; the result appears on the run's card."""
    _require_auditor(request)
    verification = ledger.request_verification(request.user)
    if htmx_partial(request):
        return _verification_response(request, verification)
    return redirect(reverse("governance:ledger-verification", args=[verification.pk]))


@require_GET
@vary_on_headers("HX-Request")
def verification_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A verification run: state, entries checked, head hash and the first problem only."""
    _require_auditor(request)
    verification = get_object_or_404(LedgerVerification.objects.for_person(request.user), pk=pk)
    return _verification_response(request, verification)


def _summary_context(request: HttpRequest, kind: str) -> dict:
    """The summary of `kind` over the requested window of this person's entries; a bad
    window is a form error and counts nothing."""
    _require_auditor(request)
    if kind not in ledger_summaries.KINDS:
        raise Http404("No such summary.")
    filterset = LedgerSummaryFilterSet(
        request.GET, queryset=AuditEntry.objects.for_person(request.user), request=request
    )
    context = {"filterset": filterset, "kind": kind, "kinds": _SUMMARY_TABS, "summary": None}
    if not filterset.is_valid():
        return context
    until: datetime = filterset.form.cleaned_data.get("until") or timezone.now()
    since: datetime = filterset.form.cleaned_data.get("since") or until - SUMMARY_WINDOW
    entries = filterset.qs.filter(created_at__gte=since, created_at__lte=until)
    context.update(
        summary=ledger_summaries.summarise(kind, entries),
        since=since,
        until=until,
        query=request.GET.urlencode(),
    )
    return context


@require_GET
def ledger_summary(request: HttpRequest, kind: str) -> HttpResponse:
    """Decisions per person, policy rule or agent over a time window (default: 7 days)."""
    context = _summary_context(request, kind)
    status = 200 if context["summary"] is not None else 400
    return render(request, "governance/ledger_summary.html", context, status=status)


def _csv_cell(value) -> str | int:
    """A cell a spreadsheet shows as text: never a formula (names come from people)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@require_GET
def ledger_summary_csv(request: HttpRequest, kind: str) -> HttpResponse:
    """The same summary as CSV: a header row, one row each, the total row last."""
    context = _summary_context(request, kind)
    summary = context["summary"]
    if summary is None:
        return render(request, "governance/ledger_summary.html", context, status=400)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    writer = csv.writer(response)
    for row in [summary.columns, *summary.rows, summary.total]:
        writer.writerow([_csv_cell(cell) for cell in row])
    stamp = f"{context['since']:%Y%m%dT%H%M}-{context['until']:%Y%m%dT%H%M}"
    response["Content-Disposition"] = f'attachment; filename="ledger-{kind}-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response
