"""What beat does for reviews (reviews.due): open scheduled campaigns, remind
reviewers before the deadline, close campaigns whose deadline has passed."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Count
from django.template.loader import render_to_string
from django.urls import reverse

from audit.actor import Actor
from audit.services import audit_record
from config.text import one_line
from reviews.models import OnNoAnswer, ReviewCampaign, ReviewItem, ReviewSchedule
from reviews.services import check_scope, review_campaign_close, review_campaign_open
from revocation.services.alerts import mail_addresses
from revocation.services.common import db_now

logger = logging.getLogger(__name__)


@dataclass
class DueResult:
    opened: int = 0
    reminded: int = 0
    closed: int = 0


def reviews_due(*, actor: Actor | None = None) -> DueResult:
    """One beat's worth: scheduled campaigns, reminders, deadlines."""
    actor = actor or Actor.system("reviews")
    result = DueResult()
    result.opened = review_schedules_run(actor=actor)
    result.reminded = review_reminders_send(actor=actor)
    for pk in ReviewCampaign.objects.filter(
        status=ReviewCampaign.Status.OPEN, deadline__lte=db_now()
    ).values_list("pk", flat=True):
        review_campaign_close(actor=actor, campaign=ReviewCampaign(pk=pk))
        result.closed += 1
    return result


def review_schedules_run(*, actor: Actor) -> int:
    """Open a campaign for every enabled schedule whose time has come."""
    opened = 0
    now = db_now()
    for pk in ReviewSchedule.objects.filter(enabled=True, next_run_at__lte=now).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            schedule = (
                ReviewSchedule.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(pk=pk, enabled=True, next_run_at__lte=now)
                .select_related("agency", "vendor", "system")
                .first()
            )
            if schedule is None:
                continue  # another beat took it
            review_campaign_open(
                actor=actor,
                agency=schedule.agency,
                name=f"{schedule.name} {now:%Y-%m-%d}",
                deadline=now + dt.timedelta(days=schedule.duration_days),
                scope=schedule.scope,
                vendor=schedule.vendor,
                system=schedule.system,
                on_no_answer=schedule.on_no_answer,
                schedule=schedule,
            )
            # From the planned time, not from now: a late beat does not drift the calendar.
            step = dt.timedelta(days=schedule.interval_days)
            while schedule.next_run_at <= now:
                schedule.next_run_at += step
            schedule.save(update_fields=["next_run_at"])
            opened += 1
    return opened


def review_schedule_create(
    *,
    actor: Actor,
    agency,
    name: str,
    interval_days: int,
    duration_days: int = 14,
    scope: str = "all",
    vendor=None,
    system=None,
    on_no_answer: str = "revoke",
    first_run_at: dt.datetime | None = None,
) -> ReviewSchedule:
    """A recurring campaign (quarterly privileged, yearly all, ...), audited.

    The first campaign opens at ``first_run_at`` (default: at the next beat).
    """
    errors = check_scope(agency=agency, scope=scope, vendor=vendor, system=system)
    name = one_line(name or "", limit=200).strip()
    if not name:
        errors["name"] = "Name the schedule."
    for field_name, days in (("interval_days", interval_days), ("duration_days", duration_days)):
        if not isinstance(days, int) or days < 1:
            errors[field_name] = "A whole number of days, at least 1."
    both = isinstance(interval_days, int) and isinstance(duration_days, int)
    if both and duration_days > interval_days:
        errors["duration_days"] = "Reviewers' time cannot be longer than the interval."
    if on_no_answer not in OnNoAnswer.values:
        errors["on_no_answer"] = f"Choose one of: {', '.join(OnNoAnswer.values)}."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        schedule = ReviewSchedule.objects.create(
            agency=agency,
            name=name,
            scope=scope,
            vendor=vendor,
            system=system,
            interval_days=interval_days,
            duration_days=duration_days,
            on_no_answer=on_no_answer,
            next_run_at=first_run_at or db_now(),
        )
        audit_record(
            actor=actor,
            action="review.schedule_created",
            target=schedule,
            agency_id=agency.pk,
            after={
                "name": name,
                "scope": scope,
                "vendor": vendor.pk if vendor else None,
                "system": system.pk if system else None,
                "interval_days": interval_days,
                "duration_days": duration_days,
                "on_no_answer": on_no_answer,
                "next_run_at": schedule.next_run_at,
            },
        )
    return schedule


def review_reminders_send(*, actor: Actor) -> int:
    """Mail each reviewer with pending items SUNDOWN_REVIEW_REMINDER_DAYS before the deadline.

    Each day-mark is sent once per campaign: recorded (and audited) before the mail
    leaves, in the same transaction as the claim on the campaign's row.
    """
    now = db_now()
    marks = sorted(settings.SUNDOWN_REVIEW_REMINDER_DAYS, reverse=True)
    if not marks:
        return 0
    horizon = now + dt.timedelta(days=max(marks))
    sent = 0
    for pk in ReviewCampaign.objects.filter(
        status=ReviewCampaign.Status.OPEN, deadline__gt=now, deadline__lte=horizon
    ).values_list("pk", flat=True):
        with transaction.atomic():
            campaign = (
                ReviewCampaign.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
            )
            if campaign is None:
                continue
            left = campaign.deadline - now
            due = [d for d in marks if left <= dt.timedelta(days=d)]
            mark = min(due) if due else None
            if mark is None or mark in campaign.reminders_sent:
                continue
            counts: list[Any] = list(
                ReviewItem.objects.filter(
                    campaign=campaign, decision=ReviewItem.Decision.PENDING, reviewer__isnull=False
                )
                .values("reviewer_id", "reviewer__email")
                .annotate(pending=Count("pk"))
                .order_by("reviewer_id")
            )
            campaign.reminders_sent = sorted({*campaign.reminders_sent, mark})
            campaign.save(update_fields=["reminders_sent"])
            audit_record(
                actor=actor,
                action="review.reminders_sent",
                target=campaign,
                agency_id=campaign.agency_id,
                after={
                    "days_before": mark,
                    "reviewers": [row["reviewer_id"] for row in counts],
                    "pending": sum(row["pending"] for row in counts),
                },
            )
            transaction.on_commit(partial(_mail_reminders, campaign, counts, mark))
            sent += len(counts)
    return sent


def _mail_reminders(campaign: ReviewCampaign, counts: list[Any], days: int) -> None:
    queue_url = settings.SUNDOWN_PUBLIC_URL.rstrip("/") + reverse("review_queue")
    for row in counts:
        to = mail_addresses([row["reviewer__email"]])
        if not to:
            continue
        try:
            send_mail(
                subject=one_line(
                    f"[Sundown] {row['pending']} access review item(s) due in {days} day(s)"
                ),
                message=render_to_string(
                    "reviews/mail/reminder.txt",
                    {
                        "campaign": campaign,
                        "pending": row["pending"],
                        "days": days,
                        "queue_url": queue_url,
                    },
                ),
                from_email=None,
                recipient_list=to,
            )
        except Exception:
            logger.exception("could not send a review reminder for campaign %s", campaign.pk)
