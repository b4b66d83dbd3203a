"""Writes of the ops app: heartbeats, and incidents opened and resolved by the watchdog.

The watchdog must not depend on the thing it watches: it runs in every worker's main
process on that process's own timer (ops.celery), on every /readyz request and from
``manage.py watchdog``, never as a beat task. However many of them see one stale sweep,
the partial unique index lets exactly one open the incident, and only that one alerts.
"""

import logging
from datetime import datetime

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models.functions import Now

from audit.actor import Actor
from audit.services import audit_record
from ops import selectors
from ops.models import Heartbeat, Incident

logger = logging.getLogger(__name__)

SWEEP_STALE = "sweep_stale"


def heartbeat_record(*, name: str, detail: dict | None = None) -> None:
    """Stamp ``name`` with the database clock (telemetry: not audited, see ops.models)."""
    detail = detail or {}
    if Heartbeat.objects.filter(name=name).update(beat_at=Now(), detail=detail):
        return
    try:
        with transaction.atomic():
            Heartbeat.objects.create(name=name, beat_at=Now(), detail=detail)
    except IntegrityError:  # another process created it first: stamping it is enough
        Heartbeat.objects.filter(name=name).update(beat_at=Now(), detail=detail)


def watchdog_check(*, watcher: str, watching_since: datetime | None = None) -> Incident | None:
    """Open (and alert) or resolve the sweep-stale incident; returns one this call opened.

    ``watching_since``: when this watchdog started. A sweep that has never completed
    counts as stale only once a watchdog has waited the whole threshold for it, so a
    fresh deployment does not alert before its first sweep had a chance to run.
    """
    age = selectors.heartbeat_age(selectors.SWEEP)
    limit = selectors.sweep_stale_seconds()
    if age.seconds is None:
        waited = (age.now - watching_since).total_seconds() if watching_since else 0.0
        if waited <= limit:
            return None
        detail = f"No sweep has completed in the {waited:.0f} s this watchdog has been watching."
    elif age.seconds > limit:
        detail = (
            f"The last sweep completed {age.seconds:.0f} s ago (limit {limit:.0f} s): "
            "contracts are not being ended and due access is not being revoked."
        )
    else:
        detail = f"last sweep {age.seconds:.0f} s ago"
        incident_resolve(check_name=SWEEP_STALE, watcher=watcher, detail=detail)
        return None
    return incident_open(check_name=SWEEP_STALE, watcher=watcher, detail=detail)


def incident_open(*, check_name: str, watcher: str, detail: str) -> Incident | None:
    """Open the check's incident unless one is open; the one that opens it alerts."""
    if selectors.incident_open(check_name) is not None:
        return None
    try:
        with transaction.atomic():
            incident = Incident.objects.create(
                check_name=check_name,
                opened_at=selectors.db_now(),
                detail=detail,
                opened_by=watcher[:200],
            )
            audit_record(
                actor=Actor.system(f"watchdog {watcher}"),
                action="ops.incident_opened",
                target=incident,
                after={"check": check_name, "detail": detail},
            )
    except IntegrityError:
        return None  # another watchdog opened it a moment ago; it alerts, not us
    logger.error("incident opened: %s: %s", check_name, detail)
    incident.alerted = _mail(
        subject=f"[Sundown] ALERT: {_TITLES.get(check_name, check_name)}",
        body=(
            f"{detail}\n\nSeen by {watcher} at {incident.opened_at:%Y-%m-%d %H:%M:%S %Z}.\n"
            "Check that Celery beat and at least one worker are running "
            "(README, 'Operating Sundown'). You will get one more mail when it recovers."
        ),
    )
    Incident.objects.filter(pk=incident.pk).update(alerted=incident.alerted)
    return incident


def incident_resolve(*, check_name: str, watcher: str, detail: str = "") -> Incident | None:
    """Close the check's open incident, if any, and say so to those who were alerted."""
    with transaction.atomic():
        incident = (
            Incident.objects.select_for_update()
            .filter(check_name=check_name, resolved_at__isnull=True)
            .first()
        )
        if incident is None:
            return None
        incident.resolved_at = selectors.db_now()
        incident.save(update_fields=["resolved_at"])
        audit_record(
            actor=Actor.system(f"watchdog {watcher}"),
            action="ops.incident_resolved",
            target=incident,
            before={"resolved_at": None},
            after={"resolved_at": incident.resolved_at.isoformat(), "detail": detail},
        )
    logger.warning("incident resolved: %s (%s)", check_name, detail)
    if incident.alerted:
        _mail(
            subject=f"[Sundown] Recovered: {_TITLES.get(check_name, check_name)}",
            body=(
                f"Recovered at {incident.resolved_at:%Y-%m-%d %H:%M:%S %Z} ({detail}); "
                f"the incident opened at {incident.opened_at:%Y-%m-%d %H:%M:%S %Z}."
            ),
            recipients=list(incident.alerted),
        )
    return incident


_TITLES = {SWEEP_STALE: "the revocation sweep has stopped"}


def alert_recipients() -> list[str]:
    """Configured addresses and every active security officer: the clock stops for all agencies."""
    from guardian.models import UserObjectPermission

    from vendors.permissions import REVOKE

    recipients = set(settings.SUNDOWN_SECURITY_ALERT_EMAILS)
    recipients |= set(
        UserObjectPermission.objects.filter(
            permission__codename=REVOKE.split(".", 1)[1], user__is_active=True
        )
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
    return sorted(recipients)


def _mail(*, subject: str, body: str, recipients: list[str] | None = None) -> list[str]:
    recipients = alert_recipients() if recipients is None else recipients
    if not recipients:
        logger.error("%s, but nobody is configured to be alerted", subject)
        return []
    try:
        send_mail(subject, body, None, recipients)
    except Exception:  # noqa: BLE001 - the log line below is then the only alert left
        logger.exception("could not send %r to %s", subject, recipients)
        return []
    return recipients
