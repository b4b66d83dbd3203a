"""Systems: register and edit (settings per connector kind, write-only secret), test the
connection through the connector, and change the lifecycle (decommissioning revokes)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from access import selectors
from access.models import System
from access.services import system_create, system_update
from audit.actor import Actor
from dashboard.access_control import connector_error_readers
from dashboard.forms import apply_validation_error
from dashboard.system_forms import SystemForm, SystemLifecycleForm
from dashboard.views._common import found, require_any_perm
from revocation.selectors import connector_error_shown
from revocation.services.connection import system_connection_test
from vendors import selectors as vendor_selectors
from vendors.permissions import MANAGE_INVENTORY


def _form_page(request, form: SystemForm, system: System | None):
    return render(
        request,
        "dashboard/systems/form.html",
        {"form": form, "system": system},
        status=400 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def system_create_view(request):
    require_any_perm(request, MANAGE_INVENTORY)
    agencies = list(vendor_selectors.agency_list(user=request.user, perm=MANAGE_INVENTORY))
    form = SystemForm(request.POST or None, agencies=agencies)
    if request.method == "POST" and form.is_valid():
        agency = next(a for a in agencies if a.slug == form.cleaned_data["agency"])
        try:
            system = system_create(
                actor=Actor.from_request(request), agency=agency, **form.service_fields()
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"System {system.name} registered.")
            return redirect("system_detail", pk=system.pk)
    return _form_page(request, form, None)


@login_required
@require_http_methods(["GET", "POST"])
def system_edit_view(request, pk: int):
    system = found(selectors.system_get(user=request.user, pk=pk, perm=MANAGE_INVENTORY))
    form = SystemForm(request.POST or None, system=system)
    if request.method == "POST" and form.is_valid():
        fields = form.service_fields()
        had_secret = system.has_secret
        try:
            updated = system_update(actor=Actor.from_request(request), system=system, **fields)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"System {updated.name} saved.")
            if had_secret and not updated.has_secret and "secret" not in fields:
                messages.warning(
                    request,
                    "The system now points elsewhere, so its stored secret was cleared. "
                    "Give the secret for the new destination.",
                )
            return redirect("system_detail", pk=updated.pk)
    return _form_page(request, form, system)


@login_required
@require_POST
def system_test_view(request, pk: int):
    system = found(selectors.system_get(user=request.user, pk=pk, perm=MANAGE_INVENTORY))
    check = system_connection_test(actor=Actor.from_request(request), system=system)
    if check.ok:
        messages.success(
            request,
            f"Connected to {system.name}: the target lists {check.accounts} accounts "
            f"({check.duration_ms} ms). Nothing was changed.",
        )
    else:
        shown = connector_error_shown(
            check.error, obj=system, readers=connector_error_readers(request)
        )
        messages.error(request, f"Connection test failed: {shown}")
    return redirect("system_detail", pk=system.pk)


@login_required
@require_POST
def system_lifecycle_view(request, pk: int):
    system = found(selectors.system_get(user=request.user, pk=pk, perm=MANAGE_INVENTORY))
    form = SystemLifecycleForm(request.POST)
    if form.is_valid():
        try:
            system_update(
                actor=Actor.from_request(request),
                system=system,
                lifecycle=form.cleaned_data["lifecycle"],
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"{system.name} is now {form.cleaned_data['lifecycle']}.")
    else:
        for errors in form.errors.values():
            messages.error(request, " ".join(str(e) for e in errors))
    return redirect("system_detail", pk=system.pk)
