"""Systems and credentials: inventory, register a credential, revoke one."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from access import selectors
from access.models import Credential
from access.services import credential_register, credential_update
from audit.actor import Actor
from dashboard.access_control import connector_error_readers
from dashboard.credential_forms import ContractPicker, CredentialEditForm, CredentialForm
from dashboard.forms import RevokeForm, SystemFilterForm, apply_validation_error
from dashboard.system_forms import SystemLifecycleForm
from dashboard.views._common import (
    found,
    paginate,
    query_without_page,
    render_page_or_partial,
    require_any_perm,
)
from dashboard.views.findings import reconciliation_context
from revocation.connectors.registry import CONNECTORS, connector_meta
from revocation.selectors import open_manual_task, revocation_attempts, target_outages
from revocation.services import credential_revoke
from vendors.permissions import MANAGE_INVENTORY, REVOKE, has_agency_perm


@login_required
def system_list(request):
    form = SystemFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    page = paginate(request, selectors.system_search(user=request.user, **filters))
    selectors.system_page_stats(list(page.object_list))
    return render(
        request,
        "dashboard/systems/list.html",
        {"form": form, "page": page, "query": query_without_page(request)},
    )


@login_required
def system_detail(request, pk: int):
    system = found(selectors.system_get(user=request.user, pk=pk))
    credentials = selectors.system_credentials(system)
    can_manage = has_agency_perm(request.user, MANAGE_INVENTORY, system)
    return render(
        request,
        "dashboard/systems/detail.html",
        {
            "system": system,
            "page": paginate(request, credentials),
            "query": query_without_page(request),
            "can_revoke": has_agency_perm(request.user, REVOKE, system),
            "can_manage": can_manage,
            "can_test": can_manage and connector_meta(system.kind).verifies
            if system.kind in CONNECTORS
            else False,
            "lifecycle_form": SystemLifecycleForm(initial={"lifecycle": system.lifecycle}),
            "limits": connector_meta(system.kind).limits if system.kind in CONNECTORS else "",
            "live_credentials": selectors.system_live_credential_count(system) if can_manage else 0,
            **reconciliation_context(system, can_reconcile=can_manage),
            # An open outage of its target: since when, why, next probe, who waits.
            "outage": next(
                iter(
                    target_outages(
                        user=request.user,
                        readers=connector_error_readers(request),
                        system=system,
                    )
                ),
                None,
            ),
        },
    )


@login_required
def credential_detail(request, pk: int):
    credential = found(selectors.credential_get(user=request.user, pk=pk))
    return _credential_page(request, credential, RevokeForm())


def _credential_page(request, credential: Credential, revoke_form: RevokeForm, status: int = 200):
    return render(
        request,
        "dashboard/credentials/detail.html",
        {
            "credential": credential,
            "contracts": selectors.credential_contracts(credential),
            # Paged like every long list: a credential retried for days has many attempts.
            "attempts": paginate(
                request, revocation_attempts(user=request.user, credential=credential), 25
            ),
            "query": query_without_page(request),
            "can_revoke": has_agency_perm(request.user, REVOKE, credential)
            and credential.status in (Credential.Status.ACTIVE, Credential.Status.FAILED),
            "revoke_form": revoke_form,
            "can_edit": has_agency_perm(request.user, MANAGE_INVENTORY, credential),
            "open_task": open_manual_task(credential),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def credential_register_view(request):
    require_any_perm(request, MANAGE_INVENTORY)
    form = CredentialForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            credential = credential_register(
                actor=Actor.from_request(request),
                vendor=data.pop("vendor"),
                system=data.pop("system"),
                contracts=list(data.pop("contracts")),
                kind=data.pop("kind"),
                external_id=data.pop("external_id"),
                **data,
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"Credential {credential.external_id} registered.")
            return redirect("credential_detail", pk=credential.pk)
    return render(
        request,
        "dashboard/credentials/form.html",
        {"form": form},
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def credential_revoke_view(request, pk: int):
    credential = found(selectors.credential_get(user=request.user, pk=pk, perm=REVOKE))
    form = RevokeForm(request.POST)
    if form.is_valid():
        try:
            credential_revoke(
                actor=Actor.from_request(request),
                credential=credential,
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"Revocation of {credential.external_id} requested.")
            return redirect("credential_detail", pk=credential.pk)
    # The page again, the reason kept and its error beside it.
    return _credential_page(request, credential, form, status=400)


@login_required
@require_http_methods(["GET", "POST"])
def credential_edit_view(request, pk: int):
    credential = found(selectors.credential_get(user=request.user, pk=pk, perm=MANAGE_INVENTORY))
    form = CredentialEditForm(request.POST or None, user=request.user, credential=credential)
    if request.method == "POST" and form.is_valid():
        try:
            credential_update(
                actor=Actor.from_request(request), credential=credential, **form.service_fields()
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"Credential {credential.external_id} saved.")
            return redirect("credential_detail", pk=credential.pk)
    return render(
        request,
        "dashboard/credentials/form.html",
        {"form": form, "credential": credential},
        status=400 if form.errors else 200,
    )


@login_required
def credential_contract_picker(request):
    """The contract picker (htmx): the whole fieldset when the vendor changes, only the
    options while a person types in its search box."""
    require_any_perm(request, MANAGE_INVENTORY)
    raw = request.GET.get("vendor", "")
    credential_id = request.GET.get("credential", "")
    vendor_id = int(raw) if raw.isdigit() else None
    if credential_id.isdigit():
        credential = found(
            selectors.credential_get(
                user=request.user, pk=int(credential_id), perm=MANAGE_INVENTORY
            )
        )
        vendor_id = credential.vendor_id
    picker = ContractPicker(
        user=request.user,
        vendor_id=vendor_id,
        q=request.GET.get("contract_q", "")[:100],
        selected=request.GET.getlist("contracts"),
    )
    return render_page_or_partial(
        request,
        "dashboard/credentials/_contract_picker.html",
        "dashboard/credentials/_contract_options.html"
        if request.headers.get("HX-Target") == "contract-picker-results"
        else "dashboard/credentials/_contract_picker.html",
        {"picker": picker},
    )


@login_required
def credential_status(request, pk: int):
    """Polled by the credential page while a revocation runs: nothing (204) while the
    status is still the one the page shows, else a reload (htmx's HX-Refresh)."""
    credential = found(selectors.credential_get(user=request.user, pk=pk))
    if credential.status == request.GET.get("shown"):
        return HttpResponse(status=204)
    response = HttpResponse(status=200)
    response["HX-Refresh"] = "true"
    return response
