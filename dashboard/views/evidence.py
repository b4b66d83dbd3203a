"""Evidence pack downloads from the vendor and contract pages (auditors' VIEW_AUDIT)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_GET

from audit.actor import Actor
from audit.evidence import EvidenceError, evidence_pack_build, scope_for_contract, scope_for_vendor
from vendors.models import Contract, Vendor
from vendors.permissions import VIEW_AUDIT, restrict


def _download(request, scope, back: str, pk: int):
    try:
        name, data = evidence_pack_build(actor=Actor.from_request(request), scope=scope)
    except EvidenceError as exc:
        messages.error(request, f"No evidence pack: {exc}")
        return redirect(back, pk=pk)
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
@require_GET
def vendor_evidence_pack(request, pk: int):
    vendor = get_object_or_404(restrict(Vendor.objects.all(), request.user, VIEW_AUDIT), pk=pk)
    return _download(request, scope_for_vendor(vendor), "vendor_detail", pk)


@login_required
@require_GET
def contract_evidence_pack(request, pk: int):
    contract = get_object_or_404(
        restrict(Contract.objects.select_related("vendor"), request.user, VIEW_AUDIT), pk=pk
    )
    return _download(request, scope_for_contract(contract), "contract_detail", pk)
