"""Roster attestation, the agency's side: each vendor's security contact, its last
link and what came of it; set the contact, send a link now."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Subquery
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from audit.actor import Actor
from dashboard.access_control import held_perms
from dashboard.forms import USWDSMixin, validation_message
from dashboard.views._common import found, paginate, require_any_perm
from reviews.attestation import attestation_send
from reviews.models import RosterAttestation
from vendors.models import Vendor
from vendors.permissions import MANAGE_VENDORS, REVOKE, VIEW, restrict
from vendors.services import vendor_update


class SecurityContactForm(USWDSMixin, forms.Form):
    security_contact_name = forms.CharField(max_length=200, required=False, label="Name")
    security_contact_email = forms.EmailField(
        required=False, label="E-mail (outside the agency; empty: no attestation)"
    )


def _vendors(user, perm: str = VIEW):
    last = RosterAttestation.objects.filter(vendor=OuterRef("pk")).order_by("-sent_at", "-pk")
    return (
        restrict(Vendor.objects.all(), user, perm)
        .annotate(
            last_status=Subquery(last.values("status")[:1]),
            last_sent_at=Subquery(last.values("sent_at")[:1]),
            last_expires_at=Subquery(last.values("expires_at")[:1]),
        )
        .order_by("name", "pk")
    )


@login_required
def attestation_list(request):
    require_any_perm(request, VIEW)
    held = held_perms(request)
    page = paginate(request, _vendors(request.user))
    labels = dict(RosterAttestation.Status.choices)
    for vendor in page.object_list:
        vendor.last_label = labels.get(vendor.last_status, "")
        # One form per vendor on the page: ids named after the vendor, never shared.
        vendor.contact_form = SecurityContactForm(
            auto_id=f"id_vendor{vendor.pk}_%s",
            initial={
                "security_contact_name": vendor.security_contact_name,
                "security_contact_email": vendor.security_contact_email,
            },
        )
    return render(
        request,
        "reviews/attestations.html",
        {
            "page": page,
            "on_missed": settings.SUNDOWN_ATTESTATION_ON_MISSED,
            "can_send": REVOKE in held,
            "can_edit": MANAGE_VENDORS in held,
        },
    )


@login_required
@require_POST
def attestation_send_view(request, pk: int):
    vendor = found(_vendors(request.user, REVOKE).filter(pk=pk).first())
    try:
        attestation_send(actor=Actor.from_request(request), vendor=vendor)
    except ValidationError as exc:
        messages.error(request, validation_message(exc))
    else:
        messages.success(request, f"Attestation link mailed to {vendor.security_contact_email}.")
    return redirect("attestation_list")


@login_required
@require_POST
def security_contact_view(request, pk: int):
    vendor = found(_vendors(request.user, MANAGE_VENDORS).filter(pk=pk).first())
    form = SecurityContactForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a valid e-mail address (or none).")
        return redirect("attestation_list")
    try:
        vendor_update(actor=Actor.from_request(request), vendor=vendor, **form.cleaned_data)
    except ValidationError as exc:
        messages.error(request, validation_message(exc))
    else:
        messages.success(request, f"Security contact of {vendor.name} saved.")
    return redirect("attestation_list")
