"""Vendor roster attestation: the vendor's own security contact vouches for its people.

On a schedule (``attestations_due``, beat) Sundown mails each vendor's security contact
a link to a page that needs no account. The link's token is signed (Django's
TimestampSigner, so a forged or altered one fails before any database read), expires
(``expires_at``, and the signature's own age), and works once; the database keeps
only its SHA-256. The page lists that vendor's people and their live credentials, and
nothing else. The contact confirms each person or marks who left: a departure revokes
exactly that person's credentials at once (trigger ``attestation``). A link nobody
answered by ``expires_at`` is missed: security staff are alerted, and with
``SUNDOWN_ATTESTATION_ON_MISSED=revoke`` the vendor's access is revoked and the vendor
suspended. Every step is audited.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from collections import defaultdict

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.template.loader import render_to_string
from django.urls import reverse

from access.models import Credential
from audit.actor import Actor
from audit.models import ActorType
from audit.services import audit_record
from config.text import one_line
from reviews.models import RosterAttestation
from reviews.services import agency_officer_emails
from revocation.constants import REVOCABLE
from revocation.services.alerts import mail_addresses
from revocation.services.common import db_now
from revocation.services.requests import request_revocation
from vendors.models import Vendor
from vendors.services import vendor_set_status

logger = logging.getLogger(__name__)

SALT = "sundown.reviews.attestation"
STAYS, LEFT = "stays", "left"
NO_HOLDER = ""  # credentials with no person recorded are one entry of the roster


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _max_age() -> int:
    # The signature outlives the row's expiry by a day, so a late click is told
    # "expired" from the row (and audited with its vendor) rather than "invalid".
    return (settings.SUNDOWN_ATTESTATION_RESPONSE_DAYS + 1) * 86400


def contact_actor(attestation: RosterAttestation, *, source_ip=None, request_id="") -> Actor:
    """The vendor's contact: no account, named by the address the link went to."""
    return Actor(
        type=ActorType.ANONYMOUS,
        name=f"vendor contact {attestation.sent_to} (attestation {attestation.pk})"[:200],
        source_ip=source_ip,
        request_id=request_id,
    )


def roster_of(vendor: Vendor) -> list[dict]:
    """The vendor's people (credential holders) and their live credentials, by name."""
    people: dict[str, list[int]] = defaultdict(list)
    for pk, holder in (
        Credential.objects.filter(vendor=vendor, status__in=REVOCABLE)
        .order_by("holder", "pk")
        .values_list("pk", "holder")
    ):
        people[holder.strip()].append(pk)
    return [{"holder": holder, "credentials": ids} for holder, ids in sorted(people.items())]


def attestation_send(*, actor: Actor, vendor: Vendor) -> RosterAttestation:
    """Mail the vendor's security contact a fresh link (any live one is superseded)."""
    if not vendor.security_contact_email:
        raise ValidationError({"security_contact_email": "The vendor has no security contact."})
    token = signing.dumps(secrets.token_urlsafe(32), salt=SALT)
    now = db_now()
    with transaction.atomic():
        Vendor.objects.select_for_update().filter(pk=vendor.pk).exists()
        for old in RosterAttestation.objects.filter(
            vendor=vendor, status=RosterAttestation.Status.SENT
        ):
            old.status = RosterAttestation.Status.SUPERSEDED
            old.save(update_fields=["status"])
            audit_record(
                actor=actor,
                action="attestation.superseded",
                target=old,
                agency_id=vendor.agency_id,
                before={"status": "sent"},
                after={"status": "superseded"},
            )
        roster = roster_of(vendor)
        attestation = RosterAttestation.objects.create(
            vendor=vendor,
            token_hash=token_hash(token),
            sent_to=vendor.security_contact_email,
            sent_at=now,
            expires_at=now + dt.timedelta(days=settings.SUNDOWN_ATTESTATION_RESPONSE_DAYS),
            roster=roster,
            requested_by=actor.name[:200],
        )
        audit_record(
            actor=actor,
            action="attestation.sent",
            target=attestation,
            agency_id=vendor.agency_id,
            after={
                "vendor": vendor.pk,
                "sent_to": attestation.sent_to,
                "expires_at": attestation.expires_at,
                "people": len(roster),
                "credentials": sum(len(p["credentials"]) for p in roster),
            },
        )
        # The token leaves only in this mail, after commit; it is never stored or logged.
        transaction.on_commit(lambda: _mail_link(attestation, token))
    return attestation


def _mail_link(attestation: RosterAttestation, token: str) -> None:
    url = settings.SUNDOWN_PUBLIC_URL.rstrip("/") + reverse("attestation_page", args=[token])
    vendor = attestation.vendor
    try:
        send_mail(
            subject=one_line(f"[Sundown] Please confirm who still works for {vendor.name}"),
            message=render_to_string(
                "reviews/mail/attestation.txt",
                {
                    "attestation": attestation,
                    "vendor": vendor,
                    "url": url,
                    "revoke_on_missed": settings.SUNDOWN_ATTESTATION_ON_MISSED == "revoke",
                },
            ),
            from_email=None,
            recipient_list=mail_addresses([attestation.sent_to]),
        )
    except Exception:
        logger.exception("could not mail roster attestation %s", attestation.pk)


class LinkRefused(Exception):
    """The link cannot be used; ``reason`` says why (for the page and the trail)."""

    def __init__(self, reason: str, attestation: RosterAttestation | None = None):
        super().__init__(reason)
        self.reason = reason
        self.attestation = attestation


def attestation_for_token(token: str) -> RosterAttestation:
    """The live attestation ``token`` opens, or ``LinkRefused``.

    The signature is checked first, so a guessed or altered token costs no lookup;
    then the row by the token's hash: used, superseded, missed or past its expiry
    are refused alike for what they are.
    """
    try:
        signing.loads(token, salt=SALT, max_age=_max_age())
    except signing.SignatureExpired:
        found = RosterAttestation.objects.filter(token_hash=token_hash(token)).first()
        raise LinkRefused("expired", found) from None
    except signing.BadSignature:
        raise LinkRefused("invalid") from None
    attestation = (
        RosterAttestation.objects.select_related("vendor__agency")
        .filter(token_hash=token_hash(token))
        .first()
    )
    if attestation is None:
        raise LinkRefused("invalid")
    if attestation.status == RosterAttestation.Status.COMPLETED:
        raise LinkRefused("used", attestation)
    if attestation.status != RosterAttestation.Status.SENT or attestation.expires_at <= db_now():
        raise LinkRefused("expired", attestation)
    return attestation


def attestation_link_refused(*, reason: str, attestation, source_ip, request_id="") -> None:
    """Audit a refused link (a reuse, a late click, a forged token)."""
    actor = Actor(
        type=ActorType.ANONYMOUS, name="anonymous", source_ip=source_ip, request_id=request_id
    )
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="attestation.link_refused",
            target=attestation,
            agency_id=attestation.vendor.agency_id if attestation else None,
            after={"reason": reason},
        )


def attestation_viewed(*, attestation: RosterAttestation, actor: Actor) -> None:
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="attestation.viewed",
            target=attestation,
            agency_id=attestation.vendor.agency_id,
        )


def attestation_complete(
    *, actor: Actor, attestation: RosterAttestation, answers: dict[str, str]
) -> RosterAttestation:
    """Record the contact's answer for every person; revoke the credentials of each
    person who left, at once. The link is spent in the same transaction."""
    with transaction.atomic():
        current = RosterAttestation.objects.select_for_update().get(pk=attestation.pk)
        if current.status != RosterAttestation.Status.SENT or current.expires_at <= db_now():
            raise ValidationError("This link has been used or has expired.")
        people = [p["holder"] for p in current.roster]
        missing = [h for h in people if answers.get(h) not in (STAYS, LEFT)]
        if missing:
            raise ValidationError({"answers": "Say for every person whether they stay or left."})
        left = [h for h in people if answers[h] == LEFT]
        current.status = RosterAttestation.Status.COMPLETED
        current.completed_at = db_now()
        current.answers = {h: answers[h] for h in people}
        revoked: list[int] = []
        for holder in left:
            # Exactly this person's access: their name among this vendor's holders (the
            # credentials registered since the link was sent included).
            revoked += request_revocation(
                actor=actor,
                queryset=Credential.objects.filter(vendor_id=current.vendor_id, holder=holder),
                reason=f"The vendor's security contact attests that {holder or 'this holder'} "
                "has left.",
                trigger="attestation",
                extra={
                    "policy": {
                        "name": "attestation",
                        "attestation": current.pk,
                        "outcome": "left",
                        "holder": holder,
                    }
                },
            )
        current.revoked_credentials = revoked
        current.save(update_fields=["status", "completed_at", "answers", "revoked_credentials"])
        audit_record(
            actor=actor,
            action="attestation.completed",
            target=current,
            agency_id=current.vendor.agency_id,
            before={"status": "sent"},
            after={"stays": [h for h in people if h not in left], "left": left, "revoked": revoked},
        )
    return current


def attestations_due(*, actor: Actor | None = None) -> tuple[int, int]:
    """Beat: send links that are due, and handle the ones that were missed.

    Returns (sent, missed).
    """
    actor = actor or Actor.system("attestation")
    now = db_now()
    missed = 0
    for pk in RosterAttestation.objects.filter(
        status=RosterAttestation.Status.SENT, expires_at__lte=now
    ).values_list("pk", flat=True):
        missed += attestation_missed(actor=actor, attestation_id=pk)
    recent = RosterAttestation.objects.filter(
        vendor=OuterRef("pk"),
        sent_at__gt=now - dt.timedelta(days=settings.SUNDOWN_ATTESTATION_DAYS),
    )
    live = Credential.objects.filter(vendor=OuterRef("pk"), status__in=REVOCABLE)
    due = (
        Vendor.objects.exclude(security_contact_email="")
        .filter(status__in=[Vendor.Status.ACTIVE, Vendor.Status.OFFBOARDING])
        .filter(Exists(live), ~Exists(recent))
        .order_by("pk")
    )
    sent = 0
    for vendor in due:
        attestation_send(actor=actor, vendor=vendor)
        sent += 1
    return sent, missed


def attestation_missed(*, actor: Actor, attestation_id: int) -> int:
    """Mark a link past its expiry missed; alert, or revoke and suspend, as configured."""
    revoke = settings.SUNDOWN_ATTESTATION_ON_MISSED == "revoke"
    with transaction.atomic():
        attestation = (
            RosterAttestation.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("vendor")
            .filter(
                pk=attestation_id, status=RosterAttestation.Status.SENT, expires_at__lte=db_now()
            )
            .first()
        )
        if attestation is None:
            return 0
        vendor = attestation.vendor
        attestation.status = RosterAttestation.Status.MISSED
        attestation.save(update_fields=["status"])
        revoked: list[int] = []
        if revoke:
            revoked = request_revocation(
                actor=actor,
                queryset=Credential.objects.filter(vendor=vendor),
                reason="The vendor's security contact did not attest the roster in time.",
                trigger="attestation",
                extra={
                    "policy": {
                        "name": "attestation",
                        "attestation": attestation.pk,
                        "outcome": "missed",
                    }
                },
            )
            vendor_set_status(
                actor=actor,
                vendor=vendor,
                status=Vendor.Status.SUSPENDED,
                reason="Roster attestation missed its deadline.",
            )
        audit_record(
            actor=actor,
            action="attestation.missed",
            target=attestation,
            agency_id=vendor.agency_id,
            before={"status": "sent"},
            after={
                "status": "missed",
                "on_missed": settings.SUNDOWN_ATTESTATION_ON_MISSED,
                "revoked": revoked,
            },
        )
        transaction.on_commit(lambda: _mail_missed(attestation, revoked))
    return 1


def _mail_missed(attestation: RosterAttestation, revoked: list[int]) -> None:
    vendor = attestation.vendor
    try:
        recipients = agency_officer_emails(vendor.agency_id)
        if not recipients:
            logger.error("attestation %s missed but nobody is to be told", attestation.pk)
            return
        send_mail(
            subject=one_line(f"[Sundown] {vendor.name} missed its roster attestation"),
            message=render_to_string(
                "reviews/mail/attestation_missed.txt",
                {"attestation": attestation, "vendor": vendor, "revoked": len(revoked)},
            ),
            from_email=None,
            recipient_list=recipients,
        )
    except Exception:
        logger.exception("could not mail the missed attestation %s", attestation.pk)
