"""Writes of what tells a vendor's accounts and logins apart: account patterns (whose
an unregistered account is) and allowed source networks (where its logins may come
from). Each change writes its audit event in the same transaction."""

from __future__ import annotations

import ipaddress

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from audit.actor import Actor
from audit.services import audit_record
from config.text import text_problem
from findings.models import AccountPattern, VendorNetwork
from vendors.models import Vendor


def network_normalise(value: str) -> str:
    """``value`` as a network in CIDR form (an address is its own /32 or /128).

    Host bits set (``10.0.0.1/8``) are refused rather than silently dropped: the person
    meant either the address or the network, and Sundown cannot tell which.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValidationError({"cidr": "An address or network, such as 203.0.113.0/24."})
    try:
        network = ipaddress.ip_network(value.strip(), strict=True)
    except ValueError as exc:
        raise ValidationError({"cidr": f"Not an address or network: {exc}."}) from None
    return str(network)


def _text(field: str, value: str, limit: int, *, required: bool) -> str:
    value = value.strip() if isinstance(value, str) else ""
    if required and not value:
        raise ValidationError({field: "This field may not be blank."})
    problem = text_problem(value)
    if problem:
        raise ValidationError({field: f"This field {problem}."})
    if len(value) > limit:
        raise ValidationError({field: f"At most {limit} characters."})
    return value


def vendor_network_add(*, actor: Actor, vendor: Vendor, cidr: str, note: str = "") -> VendorNetwork:
    """Allow logins of ``vendor`` from ``cidr`` (from then on, others are findings)."""
    cidr = network_normalise(cidr)
    note = _text("note", note, 200, required=False)
    with transaction.atomic():
        if VendorNetwork.objects.filter(vendor=vendor, cidr=cidr).exists():
            raise ValidationError({"cidr": f"{cidr} is already allowed for this vendor."})
        try:
            with transaction.atomic():
                network = VendorNetwork.objects.create(vendor=vendor, cidr=cidr, note=note)
        except IntegrityError:
            raise ValidationError({"cidr": f"{cidr} is already allowed for this vendor."}) from None
        audit_record(
            actor=actor,
            action="vendor.network_allowed",
            target=vendor,
            agency_id=vendor.agency_id,
            after={"cidr": cidr, "note": note},
        )
    return network


def vendor_network_remove(*, actor: Actor, network: VendorNetwork) -> None:
    vendor = network.vendor
    with transaction.atomic():
        deleted, _ = VendorNetwork.objects.filter(pk=network.pk).delete()
        if not deleted:
            return  # already gone: nothing to record
        audit_record(
            actor=actor,
            action="vendor.network_removed",
            target=vendor,
            agency_id=vendor.agency_id,
            before={"cidr": network.cidr, "note": network.note},
        )


def account_pattern_add(*, actor: Actor, vendor: Vendor, kind: str, value: str) -> AccountPattern:
    """Recognise unregistered accounts matching ``kind``/``value`` as ``vendor``'s."""
    if kind not in AccountPattern.Kind.values:
        raise ValidationError({"kind": "Choose a name prefix, e-mail domain, OU or group."})
    value = _text("value", value, 500, required=True)
    with transaction.atomic():
        if AccountPattern.objects.filter(vendor=vendor, kind=kind, value=value).exists():
            raise ValidationError({"value": "This vendor already has this pattern."})
        pattern = AccountPattern.objects.create(vendor=vendor, kind=kind, value=value)
        audit_record(
            actor=actor,
            action="vendor.account_pattern_added",
            target=vendor,
            agency_id=vendor.agency_id,
            after={"kind": kind, "value": value},
        )
    return pattern


def account_pattern_remove(*, actor: Actor, pattern: AccountPattern) -> None:
    vendor = pattern.vendor
    with transaction.atomic():
        deleted, _ = AccountPattern.objects.filter(pk=pattern.pk).delete()
        if not deleted:
            return
        audit_record(
            actor=actor,
            action="vendor.account_pattern_removed",
            target=vendor,
            agency_id=vendor.agency_id,
            before={"kind": pattern.kind, "value": pattern.value},
        )
