"""Writes of access reviews: open a campaign, decide items, reassign, close.

Every step writes its audit events in the same transaction. A "revoke" (a reviewer's,
or the deadline's for an unanswered item) goes through the engine: the credential
moves to pending with trigger ``review`` and a ``policy`` naming the campaign and the
decision, and a worker revokes and verifies it on the target.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q, QuerySet
from django.db.models.functions import Now
from django.template.loader import render_to_string

from access.models import Credential, System
from audit.actor import Actor
from audit.services import PendingEvent, audit_record, audit_record_many
from config.modeling import free_text
from config.text import one_line
from reviews.models import OnNoAnswer, ReviewCampaign, ReviewItem, Scope
from revocation.services.alerts import mail_addresses
from revocation.services.common import db_now
from revocation.services.requests import request_revocation
from vendors.models import Agency, Vendor
from vendors.permissions import REVOKE, VIEW, agencies_for

logger = logging.getLogger(__name__)

_CHUNK = 900  # rows per UPDATE ... IN (...): within SQLite's bound-parameter limit


def item_target(pk: int, external_id: str = "") -> tuple[str, int, str]:
    return ("reviews.reviewitem", pk, f"review of {external_id}"[:300] if external_id else "")


def scope_credentials(
    *, agency: Agency, scope: str, vendor: Vendor | None = None, system: System | None = None
) -> QuerySet[Credential]:
    """The active vendor credentials of ``agency`` a campaign of ``scope`` covers."""
    rows = Credential.objects.filter(system__agency=agency, status=Credential.Status.ACTIVE)
    if scope == Scope.VENDOR:
        rows = rows.filter(vendor=vendor)
    elif scope == Scope.SYSTEM:
        rows = rows.filter(system=system)
    elif scope == Scope.PRIVILEGED:
        # Privileged: the registry records privileges for it (superuser, admin groups, ...).
        rows = rows.exclude(privileges="")
    elif scope == Scope.CITIZEN_DATA:
        rows = rows.filter(system__estimated_records__gt=0)
    return rows


def check_scope(*, agency: Agency, scope: str, vendor, system) -> dict[str, str]:
    errors: dict[str, str] = {}
    if scope not in Scope.values:
        errors["scope"] = f"Choose one of: {', '.join(Scope.values)}."
    if scope == Scope.VENDOR and vendor is None:
        errors["vendor"] = "A vendor campaign names its vendor."
    if scope == Scope.SYSTEM and system is None:
        errors["system"] = "A system campaign names its system."
    if vendor is not None and (scope != Scope.VENDOR or vendor.agency_id != agency.pk):
        errors["vendor"] = "Only a vendor campaign names a vendor, one of the agency's own."
    if system is not None and (scope != Scope.SYSTEM or system.agency_id != agency.pk):
        errors["system"] = "Only a system campaign names a system, one of the agency's own."
    return errors


def review_campaign_open(
    *,
    actor: Actor,
    agency: Agency,
    name: str,
    deadline: dt.datetime,
    scope: str = Scope.ALL,
    vendor: Vendor | None = None,
    system: System | None = None,
    on_no_answer: str = OnNoAnswer.REVOKE,
    schedule=None,
) -> ReviewCampaign:
    """Open a campaign: one item per active credential in scope, reviewed by the
    vendor's sponsor (an item whose vendor has no sponsor waits for reassignment)."""
    name = one_line(name or "", limit=200).strip()
    errors = check_scope(agency=agency, scope=scope, vendor=vendor, system=system)
    if not name:
        errors["name"] = "Name the campaign."
    if on_no_answer not in OnNoAnswer.values:
        errors["on_no_answer"] = f"Choose one of: {', '.join(OnNoAnswer.values)}."
    now = db_now()
    if deadline is None or deadline <= now:
        errors["deadline"] = "The deadline must be in the future."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        campaign = ReviewCampaign.objects.create(
            agency=agency,
            name=name,
            scope=scope,
            vendor=vendor,
            system=system,
            deadline=deadline,
            on_no_answer=on_no_answer,
            schedule=schedule,
            created_by=actor.name[:200],
        )
        rows = scope_credentials(agency=agency, scope=scope, vendor=vendor, system=system)
        items = [
            ReviewItem(campaign=campaign, credential_id=pk, reviewer_id=sponsor_id)
            for pk, sponsor_id in rows.order_by("vendor_id", "pk").values_list(
                "pk", "vendor__sponsor_id"
            )
        ]
        ReviewItem.objects.bulk_create(items, batch_size=_CHUNK)
        audit_record(
            actor=actor,
            action="review.campaign_opened",
            target=campaign,
            agency_id=agency.pk,
            after={
                "scope": scope,
                "vendor": vendor.pk if vendor else None,
                "system": system.pk if system else None,
                "deadline": deadline,
                "on_no_answer": on_no_answer,
                "items": len(items),
                "unassigned": sum(1 for i in items if i.reviewer_id is None),
                "schedule": schedule.pk if schedule else None,
            },
        )
    return campaign


def review_items_decide(
    *, actor: Actor, items: Iterable[int], decision: str, reason: str = ""
) -> list[int]:
    """Keep or revoke the waiting items ``items`` (ids the caller may decide) at once.

    Waiting: pending in an open campaign, or escalated at a campaign's deadline (an
    officer decides those after it closed). Keep needs a reason. Items already
    answered, or pending in a closed campaign, are left as they are; returns the ids
    decided. Revoked items' credentials go to pending in the same transaction
    (trigger ``review``).
    """
    reason = free_text("reason", reason)
    if decision not in ReviewItem.ANSWERED:
        raise ValidationError({"decision": "Choose keep or revoke."})
    if decision == ReviewItem.Decision.KEEP and not reason:
        raise ValidationError({"reason": "Say why the access is still needed."})
    ids = sorted(set(items))
    if not ids:
        raise ValidationError({"items": "Choose at least one item."})
    with transaction.atomic():
        found = list(
            ReviewItem.objects.select_for_update(of=("self",))
            .filter(pk__in=ids)
            .filter(
                Q(
                    decision=ReviewItem.Decision.PENDING,
                    campaign__status=ReviewCampaign.Status.OPEN,
                )
                | Q(decision=ReviewItem.Decision.ESCALATED)
            )
            .order_by("pk")
            .values_list(
                "decision",
                "pk",
                "campaign_id",
                "campaign__agency_id",
                "credential_id",
                "credential__external_id",
            )
        )
        if not found:
            return []
        was = {row[1]: row[0] for row in found}
        rows = [row[1:] for row in found]
        decided = [row[0] for row in rows]
        for start in range(0, len(decided), _CHUNK):
            ReviewItem.objects.filter(pk__in=decided[start : start + _CHUNK]).update(
                decision=decision, reason=reason, decided_at=Now(), decided_by=actor.name[:200]
            )
        audit_record_many(
            actor=actor,
            events=[
                PendingEvent(
                    action="review.item_decided",
                    target=item_target(pk, external_id),
                    agency_id=agency_id,
                    before={"decision": was[pk]},
                    after={
                        "decision": decision,
                        "reason": reason,
                        "campaign": campaign_id,
                        "credential": credential_id,
                    },
                )
                for pk, campaign_id, agency_id, credential_id, external_id in rows
            ],
        )
        if decision == ReviewItem.Decision.REVOKE:
            by_campaign: dict[int, list[int]] = {}
            for _pk, campaign_id, _agency, credential_id, _ext in rows:
                by_campaign.setdefault(campaign_id, []).append(credential_id)
            for campaign_id, credential_ids in sorted(by_campaign.items()):
                request_revocation(
                    actor=actor,
                    queryset=Credential.objects.filter(pk__in=credential_ids),
                    reason=reason or "Revoked by its reviewer in an access review.",
                    trigger="review",
                    extra={
                        "policy": {
                            "name": "review",
                            "campaign": campaign_id,
                            "decision": "revoke",
                            "reviewer": actor.name[:200],
                        }
                    },
                )
    return decided


def review_items_reassign(
    *,
    actor: Actor,
    campaign: ReviewCampaign,
    reviewer,
    items: Iterable[int] | None = None,
    from_reviewer=None,
) -> int:
    """Give pending items to ``reviewer`` (a person holding VIEW in the campaign's agency):
    the ids ``items``, or every pending item of ``from_reviewer`` (None: unassigned)."""
    if reviewer is None or not agencies_for(reviewer, VIEW).filter(pk=campaign.agency_id).exists():
        raise ValidationError({"reviewer": "The reviewer must be able to see this agency."})
    with transaction.atomic():
        rows = ReviewItem.objects.select_for_update().filter(
            campaign=campaign, decision=ReviewItem.Decision.PENDING
        )
        if items is not None:
            rows = rows.filter(pk__in=list(items))
        else:
            rows = rows.filter(reviewer=from_reviewer)
        moved = list(rows.order_by("pk").values_list("pk", "reviewer_id"))
        moved = [(pk, was) for pk, was in moved if was != reviewer.pk]
        if not moved:
            return 0
        ids = [pk for pk, _ in moved]
        for start in range(0, len(ids), _CHUNK):
            ReviewItem.objects.filter(pk__in=ids[start : start + _CHUNK]).update(reviewer=reviewer)
        audit_record(
            actor=actor,
            action="review.items_reassigned",
            target=campaign,
            agency_id=campaign.agency_id,
            before={"reviewers": sorted({was for _, was in moved if was is not None})},
            after={"reviewer": reviewer.pk, "reviewer_name": reviewer.get_username(), "items": ids},
        )
    return len(moved)


def review_campaign_close(*, actor: Actor, campaign: ReviewCampaign) -> ReviewCampaign:
    """Close ``campaign`` now: its unanswered items are revoked or escalated, as it says."""
    with transaction.atomic():
        campaign = ReviewCampaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status != ReviewCampaign.Status.OPEN:
            return campaign
        pending = list(
            ReviewItem.objects.select_for_update(of=("self",))
            .filter(campaign=campaign, decision=ReviewItem.Decision.PENDING)
            .order_by("pk")
            .values_list("pk", "credential_id", "credential__external_id")
        )
        revoke = campaign.on_no_answer == OnNoAnswer.REVOKE
        outcome = ReviewItem.Decision.LAPSED if revoke else ReviewItem.Decision.ESCALATED
        ids = [pk for pk, _, _ in pending]
        for start in range(0, len(ids), _CHUNK):
            ReviewItem.objects.filter(pk__in=ids[start : start + _CHUNK]).update(
                decision=outcome, decided_at=Now(), decided_by=actor.name[:200]
            )
        audit_record_many(
            actor=actor,
            events=[
                PendingEvent(
                    action="review.item_lapsed",
                    target=item_target(pk, external_id),
                    agency_id=campaign.agency_id,
                    before={"decision": "pending"},
                    after={"decision": outcome, "campaign": campaign.pk, "credential": cred},
                )
                for pk, cred, external_id in pending
            ],
        )
        requested: list[int] = []
        if revoke and pending:
            requested = request_revocation(
                actor=actor,
                queryset=Credential.objects.filter(pk__in=[cred for _, cred, _ in pending]),
                reason=f"No answer in access review {campaign.name!r} by its deadline.",
                trigger="review",
                extra={
                    "policy": {"name": "review", "campaign": campaign.pk, "decision": "no_answer"}
                },
            )
        campaign.status = ReviewCampaign.Status.CLOSED
        campaign.closed_at = db_now()
        campaign.save(update_fields=["status", "closed_at"])
        audit_record(
            actor=actor,
            action="review.campaign_closed",
            target=campaign,
            agency_id=campaign.agency_id,
            before={"status": "open"},
            after={
                "status": "closed",
                "unanswered": len(pending),
                "on_no_answer": campaign.on_no_answer,
                "revocations_requested": len(requested),
            },
        )
        if pending and not revoke:
            escalated = [pk for pk, _, _ in pending]
            transaction.on_commit(lambda: _mail_escalation(campaign, escalated))
    return campaign


def agency_officer_emails(agency_id: int) -> list[str]:
    """Configured alert addresses and the agency's security officers (REVOKE holders)."""
    from django.conf import settings
    from guardian.shortcuts import get_users_with_perms

    agency = Agency.objects.get(pk=agency_id)
    officers = get_users_with_perms(
        agency, only_with_perms_in=[REVOKE.split(".", 1)[1]], with_group_users=False
    )
    emails = [u.email for u in officers if u.email and u.is_active]  # type: ignore[union-attr]
    return mail_addresses([*settings.SUNDOWN_SECURITY_ALERT_EMAILS, *emails])


def _mail_escalation(campaign: ReviewCampaign, item_ids: list[int]) -> None:
    """Tell security staff which access nobody vouched for (never raises)."""
    try:
        recipients = agency_officer_emails(campaign.agency_id)
        if not recipients:
            logger.error("review campaign %s escalated but nobody is to be told", campaign.pk)
            return
        rows = (
            ReviewItem.objects.filter(pk__in=item_ids)
            .select_related("credential__system", "credential__vendor")
            .order_by("credential__vendor__name", "pk")[:200]
        )
        send_mail(
            subject=one_line(
                f"[Sundown] Access review {campaign.name}: {len(item_ids)} unanswered"
            ),
            message=render_to_string(
                "reviews/mail/escalation.txt",
                {"campaign": campaign, "items": rows, "count": len(item_ids)},
            ),
            from_email=None,
            recipient_list=recipients,
        )
    except Exception:
        logger.exception("could not mail the escalation of review campaign %s", campaign.pk)
