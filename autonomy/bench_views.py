"""Baselines for `bench/actions`, mounted only with AUTONOMY_BENCH_ENDPOINTS=true.

They run in the same server and middleware stack as the gateway, so the benchmark can
put the governed action beside (i) the cheapest possible Django answer and (ii) a DRF
endpoint doing the least an authenticated write can do: the agent's key checked exactly
as the gateway checks it (AgentKeyAuthentication, IsAgent), then one ledger row inserted.
"""

from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.response import Response
from rest_framework.views import APIView

from autonomy.core.api_permissions import IsAgent
from governance import ledger

__all__ = ["OneInsertView", "plain"]


@login_not_required  # the cheapest possible answer: no session, no key
@csrf_exempt
def plain(request) -> JsonResponse:
    """Baseline (i): a plain Django view answering a fixed JSON document."""
    return JsonResponse({"ok": True})


class OneInsertView(APIView):
    """Baseline (ii): the agent's key authenticated like the gateway's, one AuditEntry
    inserted through governance.ledger.record (autocommit: one statement, one commit)."""

    permission_classes = [IsAgent]

    def post(self, request):
        entry = ledger.record(
            "bench.one_insert",
            request.user.ledger_actor(),
            business_unit_id=request.user.business_unit_id,
            object_type="bench",
            object_id=str(request.headers.get("Idempotency-Key", ""))[:64],
            data={"action": str(request.data.get("action", ""))[:200]},
        )
        return Response({"id": entry.pk}, status=201)
