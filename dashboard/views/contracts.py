"""Contracts for procurement: create, amend (extend / terminate early), CSV import."""

import csv
import io
import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from access.selectors import contract_credentials
from audit.actor import Actor
from config.text import one_line
from dashboard.forms import (
    ContractEndDateForm,
    ContractForm,
    ContractImportForm,
    ContractTerminateForm,
    apply_validation_error,
)
from dashboard.views._common import found, paginate, query_without_page, require_any_perm
from jobs.models import Job
from jobs.selectors import job_list
from jobs.services import job_start
from vendors import selectors
from vendors.models import Contract
from vendors.permissions import MANAGE_CONTRACTS, VIEW, has_agency_perm
from vendors.services import (
    contract_amendments,
    contract_change_end_date,
    contract_create,
    contract_terminate,
    contract_termination_plan,
)

CSV_COLUMNS = (
    "vendor",
    "reference",
    "title",
    "start_date",
    "end_date",
    "grace_days",
    "procurement_contact_email",
)
REQUIRED_COLUMNS = ("vendor", "reference", "start_date", "end_date")
MAX_IMPORT_ROWS = 5000
MAX_IMPORT_BYTES = 10_000_000  # 5,000 rows of generous width


@login_required
def contract_list(request):
    q = request.GET.get("q", "").strip()
    status = request.GET.get("status", "")
    contracts = selectors.contract_search(
        user=request.user, q=q, status=status if status in Contract.Status.values else ""
    )
    return render(
        request,
        "dashboard/contracts/list.html",
        {
            "page": paginate(request, contracts),
            "query": query_without_page(request),
            "q": q,
            "status": status,
            "statuses": Contract.Status.choices,
        },
    )


def _contract_for(request, pk: int, perm: str = VIEW) -> Contract:
    return found(selectors.contract_get(user=request.user, pk=pk, perm=perm))


@login_required
@require_http_methods(["GET", "POST"])
def contract_create_view(request):
    require_any_perm(request, MANAGE_CONTRACTS)
    initial = {}
    if "vendor" in request.GET:
        initial["vendor"] = request.GET["vendor"]
    form = ContractForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            contract = contract_create(actor=Actor.from_request(request), **data)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"Contract {contract.reference} recorded.")
            return redirect("contract_detail", pk=contract.pk)
    return render(
        request,
        "dashboard/contracts/form.html",
        {"form": form},
        status=400 if form.errors else 200,
    )


def _render_detail(request, contract, end_form=None, terminate_form=None, status=200):
    amendable = contract_amendments(contract)
    return render(
        request,
        "dashboard/contracts/detail.html",
        {
            "contract": contract,
            "credentials": paginate(request, contract_credentials(contract), 50),
            "query": query_without_page(request),
            "can_amend": has_agency_perm(request.user, MANAGE_CONTRACTS, contract)
            and amendable.any,
            "amendable": amendable,
            "end_form": end_form
            or ContractEndDateForm(
                initial={"end_date": contract.end_date, "grace_days": contract.grace_days}
            ),
            "terminate_form": terminate_form or ContractTerminateForm(),
        },
        status=status,
    )


@login_required
def contract_detail(request, pk: int):
    return _render_detail(request, _contract_for(request, pk))


def _amend(request, pk: int, form_class, form_name: str, apply, done: str):
    """POST one amendment form; on error show the detail page with that form's errors."""
    contract = _contract_for(request, pk, MANAGE_CONTRACTS)
    form = form_class(request.POST)
    if form.is_valid():
        try:
            apply(actor=Actor.from_request(request), contract=contract, **form.cleaned_data)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, done.format(reference=contract.reference))
            return redirect("contract_detail", pk=contract.pk)
    return _render_detail(request, contract, **{form_name: form}, status=400)


@login_required
@require_POST
def contract_end_date_view(request, pk: int):
    return _amend(
        request,
        pk,
        ContractEndDateForm,
        "end_form",
        contract_change_end_date,
        "End date of {reference} changed.",
    )


@login_required
@require_POST
def contract_terminate_view(request, pk: int):
    """Two steps: the form shows when access would end (in the agency's zone) and what it
    authorises; only the confirmation, which carries the same fields, terminates."""
    if request.POST.get("confirmed") == "yes":
        return _amend(
            request,
            pk,
            ContractTerminateForm,
            "terminate_form",
            contract_terminate,
            "Contract {reference} terminated.",
        )
    contract = _contract_for(request, pk, MANAGE_CONTRACTS)
    form = ContractTerminateForm(request.POST)
    if form.is_valid():
        try:
            plan = contract_termination_plan(
                contract=contract, effective_date=form.cleaned_data["effective_date"]
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            return render(
                request,
                "dashboard/contracts/terminate_confirm.html",
                {
                    "contract": contract,
                    "plan": plan,
                    "reason": form.cleaned_data["reason"],
                    "tz": contract.vendor.agency.tz,
                    "credentials": paginate(request, contract_credentials(contract), 50),
                },
            )
    return _render_detail(request, contract, terminate_form=form, status=400)


def _read_rows(file) -> tuple[list[dict], str]:
    """The file's rows, or why it cannot be imported at all."""
    # Checked before reading: an upload is spooled to disk, but read() holds it in memory.
    if file.size > MAX_IMPORT_BYTES:
        return [], f"The file is larger than {MAX_IMPORT_BYTES // 1_000_000} MB."
    try:
        text = file.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], "The file is not UTF-8 text."
    if "\x00" in text:  # PostgreSQL refuses NUL in text
        return [], "The file is not text: it contains NUL characters."
    reader = csv.DictReader(io.StringIO(text))
    try:
        header = [name.strip() for name in reader.fieldnames or []]
        reader.fieldnames = header
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        extra = [c for c in header if c not in CSV_COLUMNS]
        problems = []
        if missing:
            problems.append(f"Missing column(s): {', '.join(missing)}.")
        if extra:
            # Refused, not ignored: "end date" for end_date would otherwise lose data.
            problems.append(
                f"Unknown column(s): {', '.join(repr(c) for c in extra)}; the columns are "
                f"{', '.join(CSV_COLUMNS)}."
            )
        if problems:
            return [], " ".join(problems)
        rows = list(reader)
        if any(None in row for row in rows):
            # DictReader files values beyond the header under the key None.
            bad = next(i for i, row in enumerate(rows, start=2) if None in row)
            return [], f"Line {bad} has more values than the header has columns."
    except csv.Error as exc:  # e.g. a field longer than the csv module's limit
        return [], f"The file is not valid CSV: {exc}."
    if not rows:
        return [], "The file has no rows."
    if len(rows) > MAX_IMPORT_ROWS:
        return [], f"At most {MAX_IMPORT_ROWS:,} rows per import; this file has {len(rows):,}."
    return rows, ""


@login_required
@require_http_methods(["GET", "POST"])
def contract_import_view(request):
    require_any_perm(request, MANAGE_CONTRACTS)
    agencies = list(selectors.agency_list(user=request.user, perm=MANAGE_CONTRACTS))
    form = ContractImportForm(request.POST or None, request.FILES or None, agencies=agencies)
    if request.method == "POST" and form.is_valid():
        agency = next(a for a in agencies if a.slug == form.cleaned_data["agency"])
        upload = form.cleaned_data["file"]
        rows, problem = _read_rows(upload)
        if problem:
            form.add_error("file", problem)
        else:
            # A file that reads as CSV becomes a job: a worker checks every row (seconds
            # for thousands) while the job's page shows how far it got. The rows wait in
            # the job row, sealed, until the worker takes them; Django deletes a spooled
            # upload when this request ends.
            job = job_start(
                actor=Actor.from_request(request),
                agency=agency,
                kind=Job.Kind.CONTRACT_IMPORT,
                subject={"file_name": one_line(upload.name or "upload.csv"), "rows": len(rows)},
                payload=json.dumps(rows).encode(),
                total=len(rows),
            )
            return redirect("job_detail", pk=job.pk)
    return render(
        request,
        "dashboard/contracts/import.html",
        {
            "form": form,
            "columns": CSV_COLUMNS,
            "required": REQUIRED_COLUMNS,
            "max_rows": MAX_IMPORT_ROWS,
            "max_mb": MAX_IMPORT_BYTES // 1_000_000,
            "recent": job_list(user=request.user).filter(kind=Job.Kind.CONTRACT_IMPORT)[:5],
        },
        status=400 if form.errors else 200,
    )
