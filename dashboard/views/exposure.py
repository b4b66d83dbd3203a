"""Exposure at a point in time: which vendor access could reach what, rebuilt from the trail."""

import datetime as dt

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone

from access.selectors import system_list
from audit.exposure import exposure_at
from dashboard.exposure_forms import ExposureForm
from dashboard.views._common import require_any_perm
from vendors.permissions import VIEW_AUDIT
from vendors.selectors import vendor_list


@login_required
def audit_exposure(request):
    """Auditors and security officers; the answer covers the agencies whose trail they read."""
    require_any_perm(request, VIEW_AUDIT)
    # Today's names, only to offer a choice; the answer itself comes from the trail.
    systems = system_list(user=request.user, perm=VIEW_AUDIT).order_by("name")
    vendors = vendor_list(user=request.user, perm=VIEW_AUDIT).order_by("name")
    form = ExposureForm(
        request.GET or None,
        systems=systems.values_list("pk", "name"),
        vendors=vendors.values_list("pk", "name"),
    )
    report = None
    # The form says UTC: read a time without an offset as UTC, whatever TIME_ZONE is.
    with timezone.override(dt.UTC):
        valid = form.is_bound and form.is_valid()
    if valid:
        data = form.cleaned_data
        report = exposure_at(
            at=data["at"],
            user=request.user,
            system_id=data["system"],
            vendor_id=data["vendor"],
            min_classification=data["min_classification"] or None,
            citizen_records=data["citizen_records"],
        )
    context = {
        "form": form,
        "report": report,
        "unauthorised": sum(1 for r in report.rows if not r.authorised_at) if report else 0,
        "api_query": request.GET.urlencode(),
    }
    return render(
        request,
        "dashboard/audit/exposure.html",
        context,
        status=400 if form.is_bound and form.errors else 200,
    )
