"""Audit: searchable, filterable event log, chain status, CSV export, verify now."""

import csv
import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from audit.actor import Actor
from audit.hashing import COLUMNS
from audit.models import AuditEvent
from audit.selectors import audit_search, verification_run_latest
from dashboard import services
from dashboard.access_control import held_perms
from dashboard.forms import AuditFilterForm
from dashboard.views._common import (
    paginate,
    query_without_page,
    render_page_or_partial,
    require_any_perm,
)
from vendors.permissions import VIEW_AUDIT
from vendors.selectors import agency_list

# All stored columns, so an exported slice can be checked against the chain.
EXPORT_COLUMNS = COLUMNS
_JSON_COLUMNS = frozenset(COLUMNS.index(name) for name in ("before", "after"))
# A spreadsheet reads a cell starting with one of these as a formula (OWASP's list).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(index: int, value):
    if index in _JSON_COLUMNS:
        return "" if value is None else json.dumps(value, sort_keys=True)
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return f"'{value}"
    return value


def _filtered(request):
    """The filter form and the events it selects: none at all when the filter is invalid
    (a bad date must not widen the selection to everything)."""
    agencies = list(agency_list(user=request.user, perm=VIEW_AUDIT))
    form = AuditFilterForm(request.GET or None, agencies=agencies)
    if form.is_bound and not form.is_valid():
        return form, AuditEvent.objects.none(), agencies
    filters = dict(form.cleaned_data) if form.is_bound else {}
    slug = filters.pop("agency", "")
    filters["agency"] = next((a for a in agencies if a.slug == slug), None)
    return form, audit_search(user=request.user, **filters), agencies


@login_required
def audit_log(request):
    require_any_perm(request, VIEW_AUDIT)
    form, events, agencies = _filtered(request)
    page = paginate(request, events)
    _mark_gaps(list(page.object_list))
    context = {
        "form": form,
        "page": page,
        "query": query_without_page(request),
        "last_run": verification_run_latest(),
        # Checking the chain is the auditor's job: it reads, and changes nothing.
        "can_verify": VIEW_AUDIT in held_perms(request),
        "agency_names": {a.pk: a.name for a in agencies},
    }
    response = render_page_or_partial(
        request, "dashboard/audit/list.html", "dashboard/audit/_table.html", context
    )
    if form.errors and not request.htmx:
        # htmx swaps only 2xx answers: the partial then carries the errors itself.
        response.status_code = 400
    return response


def _mark_gaps(events) -> None:
    """Note on each event how many seq numbers lie between it and the one above it:
    events this reader may not see (another agency's, deployment-wide ones about other
    people) or that the filter leaves out. The page says so, instead of leaving a gap
    that reads like a deletion; ``manage.py audit_verify`` and the verify button prove
    there is none."""
    for newer, older in zip(events, events[1:], strict=False):
        older.hidden_before = newer.seq - older.seq - 1


class _Echo:
    def write(self, value):
        return value


@login_required
def audit_export(request):
    """The filtered events as CSV, streamed so a large trail never sits in memory."""
    require_any_perm(request, VIEW_AUDIT)
    form, events, _ = _filtered(request)
    if form.errors:
        problems = "; ".join(f"{name}: {' '.join(errs)}" for name, errs in form.errors.items())
        return HttpResponseBadRequest(
            f"Nothing exported: the filter is not valid ({problems}). Correct it on the "
            "audit page and export again.",
            content_type="text/plain; charset=utf-8",
        )
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(EXPORT_COLUMNS)
        for event in events.values_list(*EXPORT_COLUMNS).iterator(chunk_size=2000):
            yield writer.writerow([_csv_cell(i, value) for i, value in enumerate(event)])

    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="sundown-audit-{stamp}.csv"'
    return response


@login_required
@require_POST
def audit_verify_view(request):
    require_any_perm(request, VIEW_AUDIT)
    run = services.audit_chain_check(actor=Actor.from_request(request))
    if run.ok:
        messages.success(request, f"Audit chain verified: {run.message}.")
    else:
        messages.error(request, f"Audit chain BROKEN at seq {run.first_bad_seq}: {run.message}")
    return redirect("audit_log")
