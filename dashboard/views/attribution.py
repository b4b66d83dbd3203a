"""A vendor's account patterns (whose an unregistered account is) and allowed source
networks (where its logins may come from): listed to readers, edited by those who
manage the agency's inventory."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from audit.actor import Actor
from dashboard.attribution_forms import AccountPatternForm, VendorNetworkForm
from dashboard.forms import apply_validation_error
from dashboard.views._common import found
from findings import attribution, selectors
from vendors import selectors as vendor_selectors
from vendors.permissions import MANAGE_INVENTORY, VIEW, has_agency_perm


@login_required
@require_http_methods(["GET", "POST"])
def vendor_attribution(request, pk: int):
    """GET lists; POST adds a pattern (``add=pattern``) or a network (``add=network``)."""
    # POST: only those who may edit find the vendor (a reader's POST is a 404, like
    # another agency's).
    perm = MANAGE_INVENTORY if request.method == "POST" else VIEW
    vendor = found(vendor_selectors.vendor_get(user=request.user, pk=pk, perm=perm))
    can_edit = has_agency_perm(request.user, MANAGE_INVENTORY, vendor)
    pattern_form = AccountPatternForm(prefix="pattern")
    network_form = VendorNetworkForm(prefix="network")
    if request.method == "POST":
        adding = request.POST.get("add")
        actor = Actor.from_request(request)
        try:
            if adding == "pattern":
                pattern_form = AccountPatternForm(request.POST, prefix="pattern")
                if pattern_form.is_valid():
                    attribution.account_pattern_add(
                        actor=actor, vendor=vendor, **pattern_form.cleaned_data
                    )
                    messages.success(request, "Account pattern added.")
                    return redirect("vendor_attribution", pk=vendor.pk)
            elif adding == "network":
                network_form = VendorNetworkForm(request.POST, prefix="network")
                if network_form.is_valid():
                    attribution.vendor_network_add(
                        actor=actor, vendor=vendor, **network_form.cleaned_data
                    )
                    messages.success(request, "Allowed network added.")
                    return redirect("vendor_attribution", pk=vendor.pk)
        except ValidationError as exc:
            apply_validation_error(pattern_form if adding == "pattern" else network_form, exc)
    failed = request.method == "POST"
    context = {
        "vendor": vendor,
        "can_edit": can_edit,
        "patterns": selectors.vendor_account_patterns(vendor),
        "networks": selectors.vendor_networks(vendor),
        "pattern_form": pattern_form,
        "network_form": network_form,
    }
    return render(
        request, "dashboard/vendors/attribution.html", context, status=400 if failed else 200
    )


@login_required
@require_POST
def vendor_pattern_remove(request, pk: int, pattern_id: int):
    vendor = found(vendor_selectors.vendor_get(user=request.user, pk=pk, perm=MANAGE_INVENTORY))
    pattern = found(selectors.vendor_account_patterns(vendor).filter(pk=pattern_id).first())
    attribution.account_pattern_remove(actor=Actor.from_request(request), pattern=pattern)
    messages.success(request, f"Account pattern {pattern.value} removed.")
    return redirect("vendor_attribution", pk=vendor.pk)


@login_required
@require_POST
def vendor_network_remove(request, pk: int, network_id: int):
    vendor = found(vendor_selectors.vendor_get(user=request.user, pk=pk, perm=MANAGE_INVENTORY))
    network = found(selectors.vendor_networks(vendor).filter(pk=network_id).first())
    attribution.vendor_network_remove(actor=Actor.from_request(request), network=network)
    messages.success(request, f"Allowed network {network.cidr} removed.")
    return redirect("vendor_attribution", pk=vendor.pk)
