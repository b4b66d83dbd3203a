"""Contracts from a CSV file: all rows or none, every problem of every row.

Each row is parsed column by column and built by the same ``contract_build`` that
``contract_create`` uses (dates, access end, field checks); references are checked
against the vendor's contracts and the rest of the file in one query
(``contract_import_check``, which reports its progress: a worker runs it for the
dashboard, jobs.runners). Only a file with no problem is written
(``contract_import_write``): one bulk insert and one audit append
(``audit_record_many``) in one transaction, so 5,000 rows take about a second instead of
a savepoint, a uniqueness query and a chain-head lock per row.
"""

import datetime as dt
from collections.abc import Callable

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction

from audit.actor import Actor
from audit.services import PendingEvent, audit_record_many, snapshot
from config.modeling import text_errors
from vendors.models import Agency, Contract, Vendor
from vendors.services import CONTRACT_FIELDS, contract_build


def _csv_date(value: str, column: str, problems: list[str]) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        shown = repr(value) if value.strip() else "empty"
        problems.append(f"{column}: {shown} is not a date (use YYYY-MM-DD).")
        return None


def _messages(exc: ValidationError) -> list[str]:
    """A service's errors as a person reads them: 'column: message', or just the message
    when it concerns the whole row (never Django's '__all__')."""
    if hasattr(exc, "error_dict"):
        return [
            msg if field == NON_FIELD_ERRORS else f"{field}: {msg}"
            for field, errs in exc.message_dict.items()
            for msg in errs
        ]
    return list(exc.messages)


def _build_row(row: dict, *, agency: Agency, vendors: dict) -> tuple[Contract | None, list[str]]:
    """The row's contract, or every problem the row has."""
    problems: list[str] = []
    key = (row.get("vendor") or "").strip()
    vendor = vendors["regno"].get(key) or vendors["name"].get(key.casefold())
    if vendor is None:
        problems.append(
            f"vendor: no vendor {key!r} in {agency.name} (give its registration number or "
            "legal name)."
            if key
            else "vendor: empty."
        )
    reference = (row.get("reference") or "").strip()
    if not reference:
        problems.append("reference: empty.")
    start = _csv_date(row.get("start_date") or "", "start_date", problems)
    end = _csv_date(row.get("end_date") or "", "end_date", problems)
    grace = (row.get("grace_days") or "0").strip() or "0"
    # isdigit() also passes "²", which int() refuses.
    if not grace.isdecimal():
        problems.append(f"grace_days: {grace!r} is not a whole number.")
    if problems or start is None or end is None:
        return None, problems
    try:
        contract = contract_build(
            vendor=vendor,
            reference=reference,
            title=(row.get("title") or "").strip(),
            start_date=start,
            end_date=end,
            grace_days=int(grace),
            procurement_contact_email=(row.get("procurement_contact_email") or "").strip(),
        )
        errors = text_errors(contract)
        if errors:
            raise ValidationError(errors)
        # Uniqueness is checked for the whole file below, in one query.
        contract.full_clean(exclude=["vendor"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        return None, _messages(exc)
    return contract, []


Progress = Callable[[int, int], None]


def contract_import_check(
    *, agency: Agency, rows: list[dict], progress: Progress | None = None
) -> tuple[list[Contract], list[tuple]]:
    """Build a contract per CSV row (column name -> text) without writing anything:
    (contracts, []) when every row is good, else ([], [(line, reference, messages)]).
    ``progress(done, total)`` hears of every hundredth of the rows checked."""
    agency_vendors = list(Vendor.objects.filter(agency=agency).select_related("agency"))
    vendors = {
        "regno": {v.registration_number: v for v in agency_vendors if v.registration_number},
        "name": {v.name.casefold(): v for v in agency_vendors},
    }
    built: list[tuple[int, Contract]] = []
    problems: dict[int, list[str]] = {}
    step = max(1, len(rows) // 100)
    for index, row in enumerate(rows):
        line = index + 2  # the header is line 1
        contract, row_problems = _build_row(row, agency=agency, vendors=vendors)
        if contract is None:
            problems[line] = row_problems
        else:
            built.append((line, contract))
        if progress is not None and (index + 1) % step == 0:
            progress(index + 1, len(rows))
    existing = set(
        Contract.objects.filter(
            vendor__agency=agency, reference__in={c.reference for _, c in built}
        ).values_list("vendor_id", "reference")
    )
    first_line: dict[tuple[int, str], int] = {}
    for line, contract in built:
        key = (contract.vendor_id, contract.reference)
        if key in existing:
            problems.setdefault(line, []).append(
                f"reference: {contract.vendor.name} already has a contract {contract.reference!r}."
            )
        elif key in first_line:
            problems.setdefault(line, []).append(
                f"reference: {contract.reference!r} for {contract.vendor.name} is also on "
                f"line {first_line[key]} of this file."
            )
        else:
            first_line[key] = line
    if progress is not None:
        progress(len(rows), len(rows))
    if problems:
        return [], [
            (line, rows[line - 2].get("reference", ""), problems[line]) for line in sorted(problems)
        ]
    return [contract for _, contract in built], []


def contract_import_write(
    *, actor: Actor, agency: Agency, contracts: list[Contract]
) -> list[tuple]:
    """Insert checked contracts and their audit events in one transaction (a savepoint
    when the caller has one open); the problems, none when written."""
    try:
        with transaction.atomic():
            Contract.objects.bulk_create(contracts)
            audit_record_many(
                actor=actor,
                events=[
                    PendingEvent(
                        action="contract.created",
                        target=contract,
                        agency_id=agency.pk,
                        after=snapshot(contract, CONTRACT_FIELDS),
                    )
                    for contract in contracts
                ],
            )
    except IntegrityError:
        # Someone created one of these references meanwhile: nothing was written.
        return [
            (
                0,
                "",
                ["Another contract with one of these references was just recorded; import again."],
            )
        ]
    return []
