"""Writes for agencies, vendors and contracts. Each writes its audit event in its transaction."""

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.actor import Actor
from audit.services import audit_record, changed, snapshot
from config.modeling import free_text, save_validated, set_fields
from vendors import permissions
from vendors.models import Agency, Contract, Vendor

AGENCY_FIELDS = ("name", "slug", "time_zone")
VENDOR_FIELDS = (
    "agency",
    "name",
    "registration_number",
    "risk_tier",
    "sponsor",
    "contact_name",
    "contact_email",
    "security_contact_name",
    "security_contact_email",
    "status",
)
VENDOR_EDITABLE = tuple(f for f in VENDOR_FIELDS if f not in ("agency", "status"))
CONTRACT_FIELDS = (
    "vendor",
    "reference",
    "title",
    "start_date",
    "end_date",
    "grace_days",
    "access_ends_at",
    "status",
    "procurement_contact_email",
    "termination_reason",
)
CONTRACT_EDITABLE = ("reference", "title", "start_date", "procurement_contact_email")


# Agencies and roles -------------------------------------------------------


def agency_create(*, actor: Actor, name: str, slug: str, time_zone: str = "UTC") -> Agency:
    agency = Agency(name=name, slug=slug, time_zone=time_zone)
    with transaction.atomic():
        save_validated(agency)
        audit_record(
            actor=actor,
            action="agency.created",
            target=agency,
            agency_id=agency.pk,
            after=snapshot(agency, AGENCY_FIELDS),
        )
    return agency


def agency_set_idp_mfa_trust(*, actor: Actor, agency: Agency, trusted: bool) -> Agency:
    """Whether this agency accepts the identity provider's MFA claim instead of TOTP."""
    with transaction.atomic():
        agency = Agency.objects.select_for_update().get(pk=agency.pk)
        if agency.trust_idp_mfa == trusted:
            return agency
        agency.trust_idp_mfa = trusted
        agency.save(update_fields=["trust_idp_mfa"])
        audit_record(
            actor=actor,
            action="agency.idp_mfa_trust_changed",
            target=agency,
            agency_id=agency.pk,
            before={"trust_idp_mfa": not trusted},
            after={"trust_idp_mfa": trusted},
        )
    return agency


def agency_grant_role(*, actor: Actor, agency: Agency, user, role: str) -> None:
    if role not in permissions.ROLE_PERMISSIONS:
        raise ValidationError(
            {"role": f"Unknown role; choose one of {', '.join(permissions.ROLES)}."}
        )
    with transaction.atomic():
        permissions.role_grant(user=user, agency=agency, role=role)
        audit_record(
            actor=actor,
            action="agency.role_granted",
            target=("auth.user", user.pk, user.get_username()),
            agency_id=agency.pk,
            after={"role": role, "agency": agency.pk},
        )


def agency_revoke_role(*, actor: Actor, agency: Agency, user, role: str) -> None:
    with transaction.atomic():
        permissions.role_revoke(user=user, agency=agency, role=role)
        audit_record(
            actor=actor,
            action="agency.role_revoked",
            target=("auth.user", user.pk, user.get_username()),
            agency_id=agency.pk,
            before={"role": role, "agency": agency.pk},
        )


# Vendors ------------------------------------------------------------------


def vendor_create(*, actor: Actor, agency: Agency, name: str, **fields) -> Vendor:
    vendor = Vendor(agency=agency, name=name)
    set_fields(vendor, fields, VENDOR_EDITABLE)
    with transaction.atomic():
        save_validated(vendor)
        audit_record(
            actor=actor,
            action="vendor.created",
            target=vendor,
            agency_id=agency.pk,
            after=snapshot(vendor, VENDOR_FIELDS),
        )
    return vendor


def vendor_update(*, actor: Actor, vendor: Vendor, **changes) -> Vendor:
    with transaction.atomic():
        vendor = Vendor.objects.select_for_update().get(pk=vendor.pk)
        before = snapshot(vendor, VENDOR_FIELDS)
        set_fields(vendor, changes, VENDOR_EDITABLE)
        after = snapshot(vendor, VENDOR_FIELDS)
        if before == after:
            return vendor
        save_validated(vendor)
        old, new = changed(before, after)
        audit_record(
            actor=actor,
            action="vendor.updated",
            target=vendor,
            agency_id=vendor.agency_id,
            before=old,
            after=new,
        )
    return vendor


def vendor_set_status(*, actor: Actor, vendor: Vendor, status: str, reason: str = "") -> Vendor:
    if status not in Vendor.Status.values:
        raise ValidationError({"status": f"Unknown status {status!r}."})
    with transaction.atomic():
        vendor = Vendor.objects.select_for_update().get(pk=vendor.pk)
        if vendor.status == status:
            return vendor
        before = vendor.status
        vendor.status = status
        vendor.save(update_fields=["status", "updated_at"])
        audit_record(
            actor=actor,
            action="vendor.status_changed",
            target=vendor,
            agency_id=vendor.agency_id,
            before={"status": before},
            after={"status": status, "reason": reason},
        )
    return vendor


# Contracts ----------------------------------------------------------------


def contract_build(
    *,
    vendor: Vendor,
    reference: str,
    start_date: dt.date,
    end_date: dt.date,
    grace_days: int = 0,
    **fields,
) -> Contract:
    """A new contract with its access end, checked but not saved: ``contract_create``
    saves one, the CSV import (vendors.imports) many at once."""
    if vendor is None or not isinstance(vendor, Vendor):
        raise ValidationError({"vendor": "Choose an existing vendor."})
    contract = Contract(
        vendor=vendor,
        reference=reference,
        start_date=start_date,
        end_date=end_date,
        grace_days=grace_days,
    )
    set_fields(contract, fields, ("title", "procurement_contact_email"))
    _check_dates(contract)
    contract.access_ends_at = contract.compute_access_ends_at(vendor.agency)
    return contract


def contract_create(
    *,
    actor: Actor,
    vendor: Vendor,
    reference: str,
    start_date: dt.date,
    end_date: dt.date,
    grace_days: int = 0,
    **fields,
) -> Contract:
    contract = contract_build(
        vendor=vendor,
        reference=reference,
        start_date=start_date,
        end_date=end_date,
        grace_days=grace_days,
        **fields,
    )
    with transaction.atomic():
        save_validated(contract)
        audit_record(
            actor=actor,
            action="contract.created",
            target=contract,
            agency_id=vendor.agency_id,
            after=snapshot(contract, CONTRACT_FIELDS),
        )
    return contract


def _check_dates(contract: Contract) -> None:
    if not isinstance(contract.start_date, dt.date) or not isinstance(contract.end_date, dt.date):
        raise ValidationError({"end_date": "Start and end dates are required."})
    if contract.end_date < contract.start_date:
        raise ValidationError({"end_date": "The end date must not be before the start date."})
    # Access ends on the day after end_date plus grace: that day must exist in the
    # calendar, or computing it fails with OverflowError (a 500, not a form error).
    try:
        contract.end_date + dt.timedelta(days=1 + contract.grace_days)
    except OverflowError:
        raise ValidationError(
            {"end_date": "The end date plus grace days is beyond the last supported date."}
        ) from None


def _lock_contract(contract: Contract) -> Contract:
    locked = (
        Contract.objects.select_for_update().select_related("vendor__agency").get(pk=contract.pk)
    )
    return locked


def _refuse_if_access_ended(contract: Contract) -> None:
    # Revoked access is never silently restored: once access under a contract has
    # ended, moving its dates would re-authorise credentials behind people's backs.
    if contract.access_ends_at <= timezone.now() or contract.status == Contract.Status.ENDED:
        raise ValidationError(
            "Access under this contract has already ended; record a new contract instead."
        )


@dataclass(frozen=True)
class Amendments:
    """Which amendments a contract still allows, and why not, for the pages to say."""

    extend: bool
    terminate: bool
    why_not: str

    @property
    def any(self) -> bool:
        return self.extend or self.terminate


def contract_amendments(contract: Contract) -> Amendments:
    """What ``contract_change_end_date`` and ``contract_terminate`` would still accept."""
    if contract.access_ends_at <= timezone.now() or contract.status == Contract.Status.ENDED:
        return Amendments(
            False,
            False,
            "Access under this contract has ended, so it can no longer be amended: "
            "record a new contract for further work.",
        )
    if contract.status == Contract.Status.TERMINATED:
        return Amendments(
            False,
            False,
            "This contract was terminated early. A terminated contract cannot be extended "
            "or terminated again: record a new contract for further work.",
        )
    return Amendments(True, True, "")


def contract_update(*, actor: Actor, contract: Contract, **changes) -> Contract:
    """Change descriptive fields. End dates change through the verbs below."""
    with transaction.atomic():
        contract = _lock_contract(contract)
        before = snapshot(contract, CONTRACT_FIELDS)
        set_fields(contract, changes, CONTRACT_EDITABLE)
        _check_dates(contract)
        after = snapshot(contract, CONTRACT_FIELDS)
        if before == after:
            return contract
        save_validated(contract)
        old, new = changed(before, after)
        audit_record(
            actor=actor,
            action="contract.updated",
            target=contract,
            agency_id=contract.vendor.agency_id,
            before=old,
            after=new,
        )
    return contract


def contract_change_end_date(
    *,
    actor: Actor,
    contract: Contract,
    end_date: dt.date,
    grace_days: int | None = None,
    reason: str = "",
) -> Contract:
    """Extend or shorten a running contract; the reason is required and audited.

    A terminated contract may be shortened but never extended: its termination was a
    decision, and moving the end years out would quietly keep its access alive.
    """
    with transaction.atomic():
        contract = _lock_contract(contract)
        _refuse_if_access_ended(contract)
        before = snapshot(contract, ("end_date", "grace_days", "access_ends_at"))
        old_end = contract.access_ends_at
        contract.end_date = end_date
        if grace_days is not None:
            contract.grace_days = grace_days
        _check_dates(contract)
        contract.access_ends_at = contract.compute_access_ends_at(contract.vendor.agency)
        after = snapshot(contract, ("end_date", "grace_days", "access_ends_at"))
        if before == after:
            return contract
        if contract.status == Contract.Status.TERMINATED and contract.access_ends_at > old_end:
            raise ValidationError(
                {"end_date": "A terminated contract cannot be extended; record a new contract."}
            )
        reason = free_text(
            "reason", reason, required="Say why the end date changes (it is audited)."
        )
        save_validated(contract)
        audit_record(
            actor=actor,
            action="contract.end_date_changed",
            target=contract,
            agency_id=contract.vendor.agency_id,
            before=before,
            after={**after, "reason": reason},
        )
    return contract


@dataclass(frozen=True)
class TerminationPlan:
    """What terminating a contract on ``effective_date`` would do: access ends at
    ``access_ends_at`` (the end of that day in the agency's zone, no grace)."""

    effective_date: dt.date
    access_ends_at: dt.datetime


def contract_termination_plan(
    *, contract: Contract, effective_date: dt.date | None = None
) -> TerminationPlan:
    """The termination's outcome, or the ValidationError ``contract_terminate`` would
    raise; changes nothing (the dashboard's confirmation step shows it first)."""
    agency = contract.vendor.agency
    if effective_date is None:
        effective_date = timezone.now().astimezone(agency.tz).date()
    if contract.status == Contract.Status.TERMINATED:
        raise ValidationError("This contract is already terminated.")
    _refuse_if_access_ended(contract)
    if effective_date > contract.end_date:
        raise ValidationError(
            {"effective_date": "Termination cannot be after the contract's end date."}
        )
    if effective_date < contract.start_date:
        raise ValidationError(
            {"effective_date": "Termination cannot be before the contract's start date."}
        )
    ended = Contract(vendor=contract.vendor, end_date=effective_date, grace_days=0)
    return TerminationPlan(effective_date, ended.compute_access_ends_at(agency))


def contract_terminate(
    *, actor: Actor, contract: Contract, effective_date: dt.date | None = None, reason: str
) -> Contract:
    """End a contract early: access ends at the end of ``effective_date``, no grace."""
    reason = free_text("reason", reason, required="Say why the contract is terminated.")
    with transaction.atomic():
        contract = _lock_contract(contract)
        agency = contract.vendor.agency
        plan = contract_termination_plan(contract=contract, effective_date=effective_date)
        before = snapshot(contract, CONTRACT_FIELDS)
        contract.end_date = plan.effective_date
        contract.grace_days = 0
        contract.status = Contract.Status.TERMINATED
        contract.termination_reason = reason
        contract.access_ends_at = plan.access_ends_at
        save_validated(contract)
        old, new = changed(before, snapshot(contract, CONTRACT_FIELDS))
        audit_record(
            actor=actor,
            action="contract.terminated",
            target=contract,
            agency_id=agency.pk,
            before=old,
            after=new,
        )
    return contract
