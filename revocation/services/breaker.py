"""The circuit breaker per system: a target that does not answer is noticed once.

A batch whose target refused the connection, timed out or was cut mid-call opens the
system's outage (``TargetState.outage_since``) and goes back to the queue whole: one
``deferred`` attempt row for the batch and one ``system.target_unreachable`` event for
the outage, instead of an attempt row and an audit event per credential per rung of
the retry ladder (a 10 s refusal once wrote 42,000 of each). While the outage is open
no batch of the system is claimed (``gate``); every ``SUNDOWN_OUTAGE_PROBE_SECONDS`` one
worker (a conditional UPDATE on ``next_probe_at``) runs the connector's cheap
``probe``. The first probe that passes closes the outage (``system.target_reachable``,
with its length, probes and deferred batches) and the deferred rows, which never left
"due", are claimed at once instead of at the next rung.

Security staff get one mail when an outage opens: its credentials wait instead of
failing one by one, so the mail is how people learn that a target is gone.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Now

from access.models import System
from audit.services import audit_record
from revocation.connectors.base import ConnectorError, connector_for
from revocation.models import TargetState
from revocation.services.common import db_now, worker_actor

logger = logging.getLogger(__name__)

# How long a claimed probe may take before another worker may probe instead (its
# worker died mid-probe); every connector's connect and read timeouts fit inside.
PROBE_HOLD_SECONDS = 20


def state_row(system_id: int) -> None:
    """Make sure the system's TargetState row exists (concurrent callers are fine)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TargetState._meta.db_table} (system_id, outage_error, probes, "
            "deferred_batches) VALUES (%s, '', 0, 0) ON CONFLICT (system_id) DO NOTHING",
            [system_id],
        )


def _next_probe():
    # A little under the period: the beat's tick has the same period, and a probe due
    # a moment after a tick would otherwise wait a whole one more.
    return Now() + timedelta(seconds=settings.SUNDOWN_OUTAGE_PROBE_SECONDS * 0.75)


def outage_open(*, system: System, error: ConnectorError, deferred: int) -> bool:
    """Record that the target did not answer a batch; inside the batch's transaction.

    Returns True when this opened the outage (and wrote its event), False when it was
    already open (the batch only counts as one more deferred).
    """
    state_row(system.pk)
    state = TargetState.objects.select_for_update().get(system_id=system.pk)
    if state.outage_since is not None:
        TargetState.objects.filter(pk=state.pk).update(deferred_batches=F("deferred_batches") + 1)
        return False
    now = db_now()
    TargetState.objects.filter(pk=state.pk).update(
        outage_since=now,
        outage_error=error.message[:2000],
        next_probe_at=_next_probe(),
        probes=0,
        deferred_batches=1,
    )
    audit_record(
        actor=worker_actor(),
        action="system.target_unreachable",
        target=system,
        agency_id=system.agency_id,
        before={"target": "answering"},
        after={
            "target": "unreachable",
            "connector": system.kind,
            "error": error.message[:2000],
            "credentials_deferred": deferred,
            "probe_every_seconds": settings.SUNDOWN_OUTAGE_PROBE_SECONDS,
        },
    )
    transaction.on_commit(lambda: _alert_outage(system, error.message, deferred))
    return True


def gate(system_id: int) -> bool:
    """May batches of this system run now? True unless its outage is open.

    While it is open, the caller that wins the due probe runs it: a pass closes the
    outage (and this returns True, so that caller goes straight on to the batch).
    """
    state = (
        TargetState.objects.filter(system_id=system_id, outage_since__isnull=False)
        .values("outage_since")
        .first()
    )
    if state is None:
        return True
    claimed = TargetState.objects.filter(
        system_id=system_id, outage_since__isnull=False, next_probe_at__lte=Now()
    ).update(next_probe_at=Now() + timedelta(seconds=PROBE_HOLD_SECONDS))
    if not claimed:
        return False  # not due yet, or another worker is probing
    system = System.objects.get(pk=system_id)
    error = _probe(system)
    if error is not None and not error.permanent:
        TargetState.objects.filter(system_id=system_id, outage_since__isnull=False).update(
            next_probe_at=_next_probe(), probes=F("probes") + 1, outage_error=error.message[:2000]
        )
        return False
    # It answers. A permanent error (our credentials refused, say) is a verdict the
    # batch must record per credential, so the outage is over too.
    outage_close(system=system)
    return True


def _probe(system: System) -> ConnectorError | None:
    try:
        connector = connector_for(system)
    except ConnectorError as exc:
        return exc
    try:
        connector.probe()
        return None
    except ConnectorError as exc:
        return exc
    except Exception as exc:  # a connector bug: log it, count it as a failed probe
        logger.exception("probe of system %s crashed", system.pk)
        return ConnectorError(f"{type(exc).__name__}: {exc}")
    finally:
        try:
            connector.close()
        except Exception:  # noqa: BLE001 - the probe's answer is known
            logger.warning("could not close the probe of system %s", system.pk, exc_info=True)


def outage_close(*, system: System) -> bool:
    """The target answered a probe: audit the outage's end, send its batches at once."""
    from revocation.services.dispatch import dispatch_system_on_commit

    with transaction.atomic():
        state = (
            TargetState.objects.select_for_update()
            .filter(system_id=system.pk, outage_since__isnull=False)
            .first()
        )
        if state is None:
            return False  # another worker closed it
        now = db_now()
        assert state.outage_since is not None
        TargetState.objects.filter(pk=state.pk).update(
            outage_since=None, next_probe_at=None, outage_error=""
        )
        audit_record(
            actor=worker_actor(),
            action="system.target_reachable",
            target=system,
            agency_id=system.agency_id,
            before={"target": "unreachable", "since": state.outage_since.isoformat()},
            after={
                "target": "answering",
                "connector": system.kind,
                "outage_seconds": round((now - state.outage_since).total_seconds(), 1),
                "failed_probes": state.probes,
                "deferred_batches": state.deferred_batches,
            },
        )
        dispatch_system_on_commit(system_id=system.pk, kind=system.kind)
    return True


def outages_due() -> list[tuple[int, str]]:
    """(system id, kind) of every open outage whose probe is due (the beat's tick)."""
    return list(
        TargetState.objects.filter(outage_since__isnull=False, next_probe_at__lte=Now())
        .order_by("pk")
        .values_list("system_id", "system__kind")
    )


def _alert_outage(system: System, error: str, deferred: int) -> None:
    """One mail per outage to security staff; never raises (the outage is recorded)."""
    from django.core.mail import send_mail
    from django.template.loader import render_to_string

    from config.text import one_line
    from revocation.services.alerts import security_alert_recipients

    try:
        recipients = security_alert_recipients(system)
        if not recipients:
            logger.error("target of %s unreachable but nobody is configured to be alerted", system)
            return
        send_mail(
            subject=one_line(f"[Sundown] Target unreachable: {system.name}"),
            message=render_to_string(
                "revocation/mail/target_unreachable.txt",
                {
                    "system": system,
                    "error": error,
                    "deferred": deferred,
                    "probe_seconds": settings.SUNDOWN_OUTAGE_PROBE_SECONDS,
                },
            ),
            from_email=None,
            recipient_list=recipients,
        )
    except Exception:  # noqa: BLE001 - a mail outage is logged, the outage is recorded
        logger.exception("could not send the target-unreachable alert for %s", system)
