"""Findings: the list, one finding with its evidence and history, triage and adoption;
a system's reconciliation passes: start one, follow it."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from access.selectors import system_get
from audit.actor import Actor
from dashboard.forms import (
    FindingAdoptForm,
    FindingFilterForm,
    FindingTriageForm,
    validation_message,
)
from dashboard.views._common import found, paginate, query_without_page
from findings import selectors
from findings.models import Finding
from findings.reconciliation import reconciliation_request
from findings.services import (
    ADOPTABLE,
    finding_acknowledge,
    finding_adopt,
    finding_mark_false_positive,
    finding_resolve,
)
from vendors.permissions import MANAGE_INVENTORY, REVOKE, VIEW_AUDIT, has_agency_perm

TRIAGE = {
    "acknowledged": finding_acknowledge,
    "resolved": finding_resolve,
    "false_positive": finding_mark_false_positive,
}


@login_required
def finding_list(request):
    form = FindingFilterForm(request.GET or {"status": "live"})
    filters = form.cleaned_data if form.is_valid() else {"status": "live"}
    page = paginate(request, selectors.finding_search(user=request.user, **filters))
    return render(
        request,
        "dashboard/findings/list.html",
        {"form": form, "page": page, "query": query_without_page(request)},
    )


@login_required
def finding_detail(request, pk: int):
    finding = found(selectors.finding_get(user=request.user, pk=pk))
    user = request.user
    can_triage = finding.is_live and has_agency_perm(user, REVOKE, finding)
    can_adopt = (
        finding.is_live
        and finding.kind in ADOPTABLE
        and has_agency_perm(user, MANAGE_INVENTORY, finding)
    )
    context = {
        "finding": finding,
        "can_triage": can_triage,
        "triage_form": FindingTriageForm(),
        "can_adopt": can_adopt,
        "adopt_form": FindingAdoptForm(user=user, agency_id=finding.system.agency_id)
        if can_adopt
        else None,
        "history": selectors.finding_history(finding)[:100]
        if has_agency_perm(user, VIEW_AUDIT, finding)
        else None,
    }
    return render(request, "dashboard/findings/detail.html", context)


@login_required
@require_POST
def finding_triage_view(request, pk: int):
    finding = found(selectors.finding_get(user=request.user, pk=pk, perm=REVOKE))
    form = FindingTriageForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a decision and say why.")
        return redirect("finding_detail", pk=finding.pk)
    service = TRIAGE[form.cleaned_data["to"]]
    try:
        finding = service(
            actor=Actor.from_request(request), finding=finding, reason=form.cleaned_data["reason"]
        )
    except ValidationError as exc:
        messages.error(request, validation_message(exc))
    else:
        messages.success(request, f"Finding {finding.pk} is now {finding.get_status_display()}.")
    return redirect("finding_detail", pk=finding.pk)


@login_required
@require_POST
def finding_adopt_view(request, pk: int):
    finding: Finding = found(selectors.finding_get(user=request.user, pk=pk, perm=MANAGE_INVENTORY))
    form = FindingAdoptForm(request.POST, user=request.user, agency_id=finding.system.agency_id)
    if not form.is_valid():
        messages.error(request, "Choose the vendor and at least one of its running contracts.")
        return redirect("finding_detail", pk=finding.pk)
    data = form.cleaned_data
    try:
        credential = finding_adopt(
            actor=Actor.from_request(request),
            finding=finding,
            vendor=data["vendor"],
            contracts=list(data["contracts"]),
            holder=data.get("holder", ""),
            reason=data.get("reason", ""),
        )
    except ValidationError as exc:
        messages.error(request, validation_message(exc))
        return redirect("finding_detail", pk=finding.pk)
    messages.success(request, f"{credential.external_id} adopted as a credential.")
    return redirect("credential_detail", pk=credential.pk)


@login_required
@require_POST
def system_reconcile_view(request, pk: int):
    system = found(system_get(user=request.user, pk=pk, perm=MANAGE_INVENTORY))
    run, new = reconciliation_request(
        actor=Actor.from_request(request), system=system, trigger="manual"
    )
    if new:
        messages.success(request, f"Reconciliation of {system.name} queued.")
    else:
        messages.info(request, f"A reconciliation of {system.name} is already {run.status}.")
    return redirect("system_detail", pk=system.pk)


def reconciliation_context(system, *, can_reconcile: bool) -> dict:
    """What the system page's reconciliation section shows (and its poll swaps in)."""
    runs = list(selectors.system_last_runs(system))
    return {
        "can_reconcile": can_reconcile,
        "runs": runs,
        "run_in_progress": next((r for r in runs if r.status in ("queued", "running")), None),
        "findings": selectors.system_live_findings(system),
    }


@login_required
def system_reconcile_status(request, pk: int):
    """Polled by the system page while a pass is queued or running: nothing (204) while
    the pass is as the page shows it; else the section again (the progress, or the
    finished pass in the table) and new text for its polite status line."""
    system = found(system_get(user=request.user, pk=pk))
    run = selectors.system_last_runs(system, limit=1).first()
    shown = f"{run.pk}:{run.status}" if run is not None else ""
    if shown == request.GET.get("shown"):
        return HttpResponse(status=204)
    context = reconciliation_context(
        system, can_reconcile=has_agency_perm(request.user, MANAGE_INVENTORY, system)
    )
    return render(
        request,
        "dashboard/systems/_reconcile_status.html",
        {**context, "system": system, "just_finished": True},
    )
