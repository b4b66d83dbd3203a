"""Vendors: list with search and filters, detail, and the kill switch."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from access.selectors import vendor_credentials
from audit.actor import Actor
from audit.selectors import vendor_audit_trail
from dashboard.forms import KillSwitchForm, VendorFilterForm, VendorForm, apply_validation_error
from dashboard.views._common import (
    found,
    paginate,
    query_without_page,
    render_page_or_partial,
    require_any_perm,
)
from jobs.selectors import vendor_evidence_jobs
from revocation.selectors import kill_switch_preview, vendor_revocation_history
from revocation.services import vendor_kill_switch
from vendors import selectors
from vendors.permissions import (
    MANAGE_CONTRACTS,
    MANAGE_VENDORS,
    REVOKE,
    VIEW_AUDIT,
    has_agency_perm,
)
from vendors.services import vendor_create


@login_required
def vendor_list(request):
    agencies = list(selectors.agency_list(user=request.user))
    form = VendorFilterForm(request.GET or None, agencies=agencies)
    filters = form.cleaned_data if form.is_valid() else {}
    vendors = selectors.vendor_search(user=request.user, **filters)
    page = paginate(request, vendors)
    selectors.vendor_page_stats(list(page.object_list))
    context = {
        "form": form,
        "page": page,
        "query": query_without_page(request),
        "show_agency": len(agencies) > 1,
    }
    # htmx: the search box swaps only the results table.
    return render_page_or_partial(
        request, "dashboard/vendors/list.html", "dashboard/vendors/_table.html", context
    )


@login_required
@require_http_methods(["GET", "POST"])
def vendor_create_view(request):
    require_any_perm(request, MANAGE_VENDORS)
    agencies = list(selectors.agency_list(user=request.user, perm=MANAGE_VENDORS))
    form = VendorForm(request.POST or None, agencies=agencies)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        agency = next(a for a in agencies if a.slug == data.pop("agency"))
        try:
            vendor = vendor_create(actor=Actor.from_request(request), agency=agency, **data)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"Vendor {vendor.name} recorded.")
            return redirect("vendor_detail", pk=vendor.pk)
    return render(
        request,
        "dashboard/vendors/form.html",
        {"form": form},
        status=400 if form.errors else 200,
    )


@login_required
def vendor_detail(request, pk: int):
    vendor = found(selectors.vendor_get(user=request.user, pk=pk))
    can_audit = has_agency_perm(request.user, VIEW_AUDIT, vendor)
    # A vendor may hold thousands of contracts, credentials and attempts: each list is
    # paged on its own (contracts_page, credentials_page, history_page), so the page
    # stays small and fast.
    context = {
        "vendor": vendor,
        "risk": selectors.vendor_risk_list(user=request.user).get(pk=vendor.pk),
        "contracts": paginate(
            request, selectors.vendor_contracts(vendor), 25, param="contracts_page"
        ),
        "contracts_query": query_without_page(request, "contracts_page"),
        "credentials": paginate(request, vendor_credentials(vendor), 25, param="credentials_page"),
        "credentials_query": query_without_page(request, "credentials_page"),
        "history": paginate(request, vendor_revocation_history(vendor), 25, param="history_page"),
        "history_query": query_without_page(request, "history_page"),
        "audit_events": (
            vendor_audit_trail(user=request.user, vendor=vendor) if can_audit else None
        ),
        "can_audit": can_audit,
        "evidence_jobs": (
            vendor_evidence_jobs(user=request.user, vendor=vendor) if can_audit else []
        ),
        "can_revoke": has_agency_perm(request.user, REVOKE, vendor),
        "can_manage_contracts": has_agency_perm(request.user, MANAGE_CONTRACTS, vendor),
    }
    return render(request, "dashboard/vendors/detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def vendor_kill_switch_view(request, pk: int):
    """GET states exactly what will be revoked; POST (confirmed) revokes it all."""
    # Only users who may revoke in the vendor's agency find the vendor here at all.
    vendor = found(selectors.vendor_get(user=request.user, pk=pk, perm=REVOKE))
    form = KillSwitchForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            rows = vendor_kill_switch(
                actor=Actor.from_request(request),
                vendor=vendor,
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(
                request,
                f"Kill switch used on {vendor.name}: {len(rows)} credential(s) queued for "
                "revocation; the vendor is suspended.",
            )
            return redirect("vendor_detail", pk=vendor.pk)
    preview = list(kill_switch_preview(vendor=vendor))
    systems = sorted({c.system.name for c in preview})
    return render(
        request,
        "dashboard/vendors/kill_switch.html",
        {"vendor": vendor, "form": form, "preview": preview, "systems": systems},
        status=400 if form.errors else 200,
    )
