"""Evidence pack downloads from the vendor and contract pages (auditors' VIEW_AUDIT)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET

from audit.actor import Actor
from audit.evidence import EvidenceError, evidence_pack_build, scope_for_contract, scope_for_vendor
from vendors import selectors as vendor_selectors
from vendors.permissions import VIEW_AUDIT


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
    vendor = vendor_selectors.vendor_get(user=request.user, pk=pk, perm=VIEW_AUDIT)
    if vendor is None:
        raise Http404
    return _download(request, scope_for_vendor(vendor), "vendor_detail", pk)


@login_required
@require_GET
def contract_evidence_pack(request, pk: int):
    contract = vendor_selectors.contract_get(user=request.user, pk=pk, perm=VIEW_AUDIT)
    if contract is None:
        raise Http404
    return _download(request, scope_for_contract(contract), "contract_detail", pk)
