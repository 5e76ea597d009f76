"""A recorded decision: its inputs (sensitive fields hashed), outcome and explanation."""

import json

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from governance.models import AuditEntry, DecisionRecord
from governance.scoping import scope

__all__ = ["decision_detail"]


@login_required
def decision_detail(request: HttpRequest, decision_id) -> HttpResponse:
    record = get_object_or_404(
        scope(DecisionRecord.objects.select_related("business_unit"), request.user),
        pk=decision_id,
    )
    # A what-if decision has an entry of its own; the gateway records its decision in the
    # action's entry.
    entry = (
        AuditEntry.objects.filter(
            Q(object_type="governance.decisionrecord", object_id=str(record.pk))
            | Q(data__decision_id=str(record.pk))
        )
        .order_by("id")
        .first()
    )
    return render(
        request,
        "governance/decision_detail.html",
        {
            "record": record,
            "entry": entry,
            "payload": json.dumps(record.payload, indent=2, sort_keys=True),
            "context_json": json.dumps(record.context, indent=2, sort_keys=True),
        },
    )
