"""A recorded decision: its inputs (sensitive fields hashed), outcome and explanation."""

import json

from django.contrib.auth.decorators import login_required
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
    entry = AuditEntry.objects.filter(
        object_type="governance.decisionrecord", object_id=str(record.pk)
    ).first()
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
