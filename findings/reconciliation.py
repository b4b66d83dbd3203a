"""Reconciliation: read every account on a target and compare it with the registry.

This module is the pass (runs, their claim and outcome, the schedule); the comparison
is ``findings.comparison``, its rules ``findings.rules``, usage ``findings.usage``.

One pass over one system (``reconciliation_run``):

1. The connector's ``list_accounts`` reads the target once (paged where the protocol
   pages), with each account's state, its live sessions and, where the target keeps
   them, its last login, e-mail and groups.
2. One transaction, under the system's row lock (so two passes over one system take
   turns), compares that list with the system's credentials:

   - *orphan*: an account no credential names; attributed to a vendor whose
     ``AccountPattern`` matches (name prefix, e-mail domain, DN suffix, group);
   - *drift*: a credential Sundown revoked (verified, or confirmed by a person) that
     can log in again or has a session: a critical finding, and the credential goes
     back to pending with trigger ``drift``, so a worker revokes and verifies it again;
   - *not found*: an active (or failed) credential whose account the target does not
     show;
   - *used after revocation / after contract end*: a live session (or a login the
     target recorded since) of a revoked credential, or of one whose every contract
     has ended;
   - *decommissioned access*: any account that can log in on a decommissioned system.

   Credentials the target shows get ``last_seen_on_target_at``; those with a session or
   a recorded login get ``last_used_at``. Findings the pass no longer sees (an orphan
   dropped or adopted, a credential found again) are resolved, audited. The run row,
   the findings, the drift requests and a ``system.reconciled`` event commit together.

Built for 100,000 accounts: a handful of queries whatever the size (bench/reconcile.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.db.models.functions import Now

from access.models import Credential, System
from audit.actor import Actor
from audit.services import audit_record
from findings.comparison import compare
from findings.models import ReconciliationRun
from findings.rules import REVOKED
from revocation.connectors.base import ConnectorError, connector_for
from revocation.services.common import db_now, worker_identity

logger = logging.getLogger(__name__)

RECONCILER = "reconciler"
# Kinds whose connectors cannot list a target.
UNLISTABLE = ("manual", "webhook")


def reconciler_actor() -> Actor:
    return Actor.system(RECONCILER)


# Runs -------------------------------------------------------------------------


def reconciliation_request(
    *, actor: Actor, system: System, trigger: str, enqueue: bool = True
) -> tuple[ReconciliationRun, bool]:
    """Queue a pass over ``system`` (audited) unless one is already queued or running.

    Returns the run and whether it is new. With ``enqueue`` the task is sent on commit;
    the command runs the pass itself instead.
    """
    with transaction.atomic():
        System.objects.select_for_update(no_key=True).filter(pk=system.pk).exists()
        _abandon_stale(system.pk)
        current = (
            ReconciliationRun.objects.filter(
                system=system,
                status__in=[ReconciliationRun.Status.QUEUED, ReconciliationRun.Status.RUNNING],
            )
            .order_by("-queued_at")
            .first()
        )
        if current is not None:
            return current, False
        run = ReconciliationRun.objects.create(
            system=system, trigger=trigger, requested_by=actor.name[:200], queued_at=db_now()
        )
        audit_record(
            actor=actor,
            action="system.reconciliation_requested",
            target=system,
            agency_id=system.agency_id,
            after={"run": run.pk, "trigger": trigger},
        )
        from findings.tasks import reconcile_system_task

        if enqueue:
            transaction.on_commit(lambda: reconcile_system_task.delay(run.pk, kind=system.kind))
    return run, True


def _abandon_stale(system_id: int) -> int:
    """Runs whose worker died: queued or running for longer than a pass may take."""
    limit = dt.timedelta(seconds=settings.SUNDOWN_RECONCILE_STALE_SECONDS)
    return ReconciliationRun.objects.filter(
        system_id=system_id,
        status__in=[ReconciliationRun.Status.QUEUED, ReconciliationRun.Status.RUNNING],
        queued_at__lt=Now() - limit,
    ).update(status=ReconciliationRun.Status.ABANDONED, finished_at=Now())


def reconciliation_run(*, run_id: int, actor: Actor | None = None) -> ReconciliationRun | None:
    """Do the pass of ``run_id`` (a queued run; a finished one is left alone)."""
    actor = actor or reconciler_actor()
    worker = worker_identity()
    # Claimed by a conditional UPDATE: a message delivered twice (or a command and a
    # worker on the same run) makes one pass, never two.
    claimed = ReconciliationRun.objects.filter(
        pk=run_id, status=ReconciliationRun.Status.QUEUED
    ).update(status=ReconciliationRun.Status.RUNNING, worker=worker[:200], started_at=Now())
    run = (
        ReconciliationRun.objects.select_related("system", "system__agency")
        .filter(pk=run_id)
        .first()
    )
    if not claimed or run is None:
        return run
    started = time.monotonic()
    system = run.system
    # Credentials already revoked (committed) before the target is read. One revoked
    # while the pass reads the target may be listed as it was just before; judged as
    # drift, it would get a false critical finding and a second revocation.
    revoked_before = set(
        Credential.objects.filter(system=system, status__in=REVOKED).values_list("pk", flat=True)
    )
    try:
        with connector_for(system) as connector:
            accounts = connector.list_accounts()
            key_of = connector.account_key
    except ConnectorError as exc:
        return _finish_failed(run, actor, exc.message, started)
    except Exception:
        logger.exception("reconciliation of system %s failed", system.pk)
        _finish_failed(run, actor, "internal error (see the worker's log)", started)
        raise
    with transaction.atomic():
        # NO KEY: still one writer per system, but a revocation batch's foreign-key
        # check on the system row (KEY SHARE, at its commit) is not blocked; with a
        # plain FOR UPDATE the two deadlocked over the credential rows.
        System.objects.select_for_update(no_key=True).filter(pk=system.pk).exists()
        run.refresh_from_db(fields=["status"])
        if run.status != ReconciliationRun.Status.RUNNING:
            return run  # abandoned meanwhile and redone by another pass
        compare(
            system=system,
            accounts=accounts,
            key_of=key_of,
            actor=actor,
            run=run,
            revoked_before=revoked_before,
        )
        run.status = ReconciliationRun.Status.SUCCEEDED
        run.finished_at = db_now()
        run.duration_ms = int((time.monotonic() - started) * 1000)
        run.save()
        audit_record(
            actor=actor,
            action="system.reconciled",
            target=system,
            agency_id=system.agency_id,
            after=run_counts(run),
        )
    return run


def run_counts(run: ReconciliationRun) -> dict:
    return {
        "run": run.pk,
        "accounts": run.accounts,
        "active_accounts": run.active_accounts,
        "sessions": run.sessions,
        "matched": run.matched,
        "orphans": run.orphans,
        "drifted": run.drifted,
        "not_found": run.not_found,
        "used_after_end": run.used_after_end,
        "findings_opened": run.findings_opened,
        "findings_resolved": run.findings_resolved,
    }


def _finish_failed(run, actor: Actor, message: str, started: float) -> ReconciliationRun:
    with transaction.atomic():
        ReconciliationRun.objects.filter(pk=run.pk).update(
            status=ReconciliationRun.Status.FAILED,
            error=message[:2000],
            finished_at=Now(),
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        audit_record(
            actor=actor,
            action="system.reconciliation_failed",
            target=run.system,
            agency_id=run.system.agency_id,
            after={"run": run.pk, "error": message[:2000]},
        )
    run.refresh_from_db()
    return run


# Schedule ---------------------------------------------------------------------


def reconciliation_due(*, actor: Actor | None = None, limit: int = 200) -> list[int]:
    """Queue a pass for every listable system whose interval has passed (beat)."""
    actor = actor or reconciler_actor()
    default = settings.SUNDOWN_RECONCILE_MINUTES
    now = db_now()
    systems = (
        System.objects.exclude(kind__in=UNLISTABLE)
        .filter(Q(reconcile_schedule__isnull=True) | Q(reconcile_schedule__enabled=True))
        .annotate(last=Max("reconciliation_runs__queued_at"))
        .select_related("reconcile_schedule")
        .order_by("pk")
    )
    queued = []
    for system in systems.iterator(chunk_size=500):
        schedule = getattr(system, "reconcile_schedule", None)
        minutes = schedule.interval_minutes if schedule is not None else default
        last = system.last
        if last is not None and last > now - dt.timedelta(minutes=minutes):
            continue
        run, new = reconciliation_request(actor=actor, system=system, trigger="schedule")
        if new:
            queued.append(run.pk)
        if len(queued) >= limit:
            break
    return queued
