"""Evidence packs from the vendor and contract pages (auditors' VIEW_AUDIT): each is a
job (jobs app) a worker builds while its page shows how many events are proved."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from audit.actor import Actor
from dashboard.views._common import found
from jobs.models import Job
from jobs.services import job_start
from vendors import selectors as vendor_selectors
from vendors.permissions import VIEW_AUDIT


def _start(request, vendor, contract=None):
    label = f"contract {contract.reference}" if contract is not None else vendor.name
    job = job_start(
        actor=Actor.from_request(request),
        agency=vendor.agency,
        kind=Job.Kind.EVIDENCE_PACK,
        subject={
            "vendor": vendor.pk,
            "contract": contract.pk if contract is not None else None,
            "label": label,
        },
    )
    return redirect("job_detail", pk=job.pk)


@login_required
@require_POST
def vendor_evidence_pack(request, pk: int):
    vendor = found(vendor_selectors.vendor_get(user=request.user, pk=pk, perm=VIEW_AUDIT))
    return _start(request, vendor)


@login_required
@require_POST
def contract_evidence_pack(request, pk: int):
    contract = found(vendor_selectors.contract_get(user=request.user, pk=pk, perm=VIEW_AUDIT))
    return _start(request, contract.vendor, contract)
