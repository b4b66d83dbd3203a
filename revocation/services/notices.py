"""Expiry notices: 30, 7 and 1 day before a contract's access ends, each sent once."""

from __future__ import annotations

import logging
import smtplib
from datetime import datetime, timedelta

from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string

from audit.actor import Actor
from audit.services import audit_record
from config.text import one_line
from revocation.constants import NOTICE_DAYS
from revocation.models import ExpiryNotice
from revocation.services.alerts import mail_addresses
from revocation.services.common import db_now
from vendors.models import Contract

logger = logging.getLogger(__name__)


def expiry_notices_send(*, actor: Actor | None = None) -> int:
    """Send due 30/7/1-day notices to the vendor's sponsor and the procurement contact.

    The notice row is inserted before the mail goes out, in the same transaction:
    a concurrent run waits on the unique key and skips, so each goes out once.
    """
    actor = actor or Actor.system("expiry-notices")
    now = db_now()
    horizon = now + timedelta(days=max(NOTICE_DAYS))
    contracts = (
        Contract.objects.filter(
            status__in=[Contract.Status.ACTIVE, Contract.Status.TERMINATED],
            access_ends_at__gt=now,
            access_ends_at__lte=horizon,
        )
        .select_related("vendor__sponsor", "vendor__agency")
        .order_by("access_ends_at")
    )
    due = list(contracts)
    already = set(
        ExpiryNotice.objects.filter(contract__in=due).values_list(
            "contract_id", "days_before", "access_ends_at"
        )
    )
    sent = 0
    for contract in due:
        remaining = contract.access_ends_at - now
        days = min(d for d in NOTICE_DAYS if remaining <= timedelta(days=d))
        if (contract.pk, days, contract.access_ends_at) in already:
            continue
        try:
            sent += _send_notice(actor=actor, contract=contract, days=days, now=now)
        except (OSError, smtplib.SMTPException):
            # The notice row rolled back with the mail, so the next run tries again
            # (until the mail server is back, or the contract's access has ended);
            # one refused address must not hold back every contract ending later.
            logger.exception("could not send the expiry notice for contract %s", contract.pk)
        except Exception as exc:
            # A message that can never be sent: retrying every run would be forever.
            logger.exception("expiry notice for contract %s cannot be sent", contract.pk)
            _give_up(actor=actor, contract=contract, days=days, now=now, error=exc)
    return sent


def _give_up(*, actor: Actor, contract: Contract, days: int, now: datetime, error: Exception):
    """Record the notice as handled, with no recipients, and say why in the trail."""
    try:
        with transaction.atomic():
            ExpiryNotice.objects.create(
                contract=contract,
                days_before=days,
                access_ends_at=contract.access_ends_at,
                recipients=[],
                sent_at=now,
            )
            audit_record(
                actor=actor,
                action="contract.expiry_notice_failed",
                target=contract,
                agency_id=contract.vendor.agency_id,
                after={
                    "days_before": days,
                    "access_ends_at": contract.access_ends_at,
                    "error": type(error).__name__,
                },
            )
    except IntegrityError:
        pass  # a concurrent run recorded it


def _recipients(contract: Contract) -> list[str]:
    vendor = contract.vendor
    sponsor = vendor.sponsor.email if vendor.sponsor_id and vendor.sponsor else ""
    return mail_addresses([sponsor, contract.procurement_contact_email])


def _send_notice(*, actor: Actor, contract: Contract, days: int, now: datetime) -> int:
    vendor = contract.vendor
    recipients = _recipients(contract)
    # Formatted here, not in the template: the date filter would show the server's
    # time zone, and the end of a contract is a day in the agency's.
    ends_local = contract.access_ends_at.astimezone(vendor.agency.tz)
    try:
        with transaction.atomic():
            ExpiryNotice.objects.create(
                contract=contract,
                days_before=days,
                access_ends_at=contract.access_ends_at,
                recipients=recipients,
                sent_at=now,
            )
            audit_record(
                actor=actor,
                action="contract.expiry_notice_sent",
                target=contract,
                agency_id=vendor.agency_id,
                after={
                    "days_before": days,
                    "access_ends_at": contract.access_ends_at,
                    "recipients": recipients,
                },
            )
            if recipients:
                send_mail(
                    # Names are the vendor's and procurement's text: one line, or the
                    # header is refused and the notice never goes out.
                    subject=one_line(
                        f"[Sundown] Contract {contract.reference} with {vendor.name} "
                        f"ends in {days} day{'s' if days != 1 else ''}"
                    ),
                    message=render_to_string(
                        "revocation/mail/expiry_notice.txt",
                        {
                            "contract": contract,
                            "vendor": vendor,
                            "ends_at": f"{ends_local:%Y-%m-%d %H:%M %Z}",
                        },
                    ),
                    from_email=None,
                    recipient_list=recipients,
                )
    except IntegrityError:
        return 0  # a concurrent run sent it
    return 1
