"""Reconciliation: read every account on a target and compare it with the registry.

This module is the pass (runs, their claim and outcome, the schedule); the comparison
is ``findings.comparison``, its rules ``findings.rules``, usage ``findings.usage``.

One pass over one system (``reconciliation_run``):

1. The connector's ``list_accounts`` reads the target once (paged where the protocol
   pages), with each account's state, its live sessions and, where the target keeps
   them, its last login, e-mail and groups.
2. The comparison (``findings.comparison.compare``, reads only) of that list with the
   system's credentials:

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

3. Its writes, in chunks of ``SUNDOWN_RECONCILE_CHUNK`` subjects (an account, or a
   credential the target does not show), each chunk one short transaction: credentials
   the target shows get ``last_seen_on_target_at``, those with a session or a recorded
   login ``last_used_at``; findings are opened (or seen again), drift and dormant
   access go back to revocation, and the chunk's audit events are appended last (an
   append holds the chain head until commit). Then findings the pass no longer sees
   (an orphan dropped or adopted, a credential found again) are resolved, audited, in
   chunks too; and the run's outcome and a ``system.reconciled`` event commit together.

Why chunks: one transaction over 100,000 accounts held the system's credential rows
and, from its first audit append to its commit, the audit chain head, so revocation
batches on that system and every other append in the product waited for the whole
pass (~50 s with 100,000 unknown accounts). Now they wait for one chunk at most
(bench/reconcile.py measures it).
What the one transaction guaranteed, and how the chunks keep it:

- *One pass per system at a time.* A system has at most one queued or running run
  (``reconciliation_request`` checks under the system's row lock), and a run is claimed
  by one worker (a conditional UPDATE). Each chunk takes the system's row (FOR NO KEY
  UPDATE, as before: a revocation batch's foreign-key check is not blocked) and the
  run's, so chunks of two passes never interleave within a transaction.
- *A run abandoned meanwhile stops.* Each chunk re-checks, under the run's row lock,
  that the run is still ``running``; a later request that found it stale and marked
  it ``abandoned`` waits for the chunk in flight, and the pass stops before its next
  one (no ``system.reconciled`` for it). The pass that request queued redoes it.
- *No duplicate findings when a pass is re-run after dying mid-way.* A chunk's
  findings, credential writes and audit events commit together or not at all;
  ``findings_raise`` de-duplicates per chunk against the live findings of the chunk's
  accounts (under the system's row lock, with the partial unique index as the last
  word), so a re-run sees what committed chunks opened and only counts them as seen
  again.
- *The run's counts and ``system.reconciled``.* What the target showed and how it
  compared are counted once over the whole comparison; findings opened and resolved
  are summed over the chunks. The run's row is saved with every chunk, so a pass that
  dies mid-way leaves a run saying what its committed chunks did.
- *No false drift.* ``revoked_before`` is read before the target, as before: a
  credential revoked while the pass reads the target is not judged as drift.

A pass that dies mid-way leaves the chunks it committed, each with its audit events
(findings opened, credentials stamped or sent back to revocation): nothing is
half-written within a chunk, but the pass as a whole is. An error marks the run
``failed`` (``system.reconciliation_failed``); a worker killed leaves it ``running``
until the next request after ``SUNDOWN_RECONCILE_STALE_SECONDS`` marks it
``abandoned``. Either way the next pass completes it without duplicates. Findings are
resolved only after every chunk of findings is written, so a pass that died before
that resolved nothing.
Newly opened critical findings are mailed after each chunk's commit (a pass whose
critical findings span several chunks sends several mails; none is lost with a dead
pass).

Built for 100,000 accounts: a handful of queries whatever the size, plus a few per
chunk (bench/reconcile.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.db.models.functions import Now

from access.models import Credential, System
from audit.actor import Actor
from audit.services import audit_record
from findings.comparison import (
    Comparison,
    absent_findings,
    absent_resolve,
    chunk_write,
    compare,
    comparison_chunks,
)
from findings.models import ReconciliationRun
from findings.rules import REVOKED
from findings.usage import chunks
from revocation.connectors.base import Account, ConnectorError, connector_for
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
    try:
        return _write_in_chunks(run, actor, accounts, key_of, revoked_before, started)
    except Exception:
        logger.exception("reconciliation of system %s failed", system.pk)
        _finish_failed(run, actor, "internal error (see the worker's log)", started)
        raise


def _write_in_chunks(
    run: ReconciliationRun,
    actor: Actor,
    accounts: list[Account],
    key_of: Callable[[str], str],
    revoked_before: set[int],
    started: float,
) -> ReconciliationRun:
    """The comparison, then its writes chunk by chunk (see the module's docstring)."""
    system = run.system
    result: Comparison = compare(
        system=system, accounts=accounts, key_of=key_of, run=run, revoked_before=revoked_before
    )
    size = settings.SUNDOWN_RECONCILE_CHUNK
    for chunk in comparison_chunks(result, key_of=key_of, size=size):
        with transaction.atomic():
            if not _chunk_start(run):
                return _stopped(run)
            chunk_write(system=system, actor=actor, run=run, chunk=chunk)
    present = result.present
    for among in chunks(absent_findings(system=system, present=present), size):
        with transaction.atomic():
            if not _chunk_start(run):
                return _stopped(run)
            absent_resolve(system=system, actor=actor, run=run, present=present, among=among)
    with transaction.atomic():
        if not _chunk_start(run):
            return _stopped(run)
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


def _chunk_start(run: ReconciliationRun) -> bool:
    """First thing in each chunk's transaction: the system's row, then the run's; False
    when the run is no longer running (abandoned by a later request meanwhile)."""
    # NO KEY: still one writer per system, but a revocation batch's foreign-key check
    # on the system row (KEY SHARE, at its commit) is not blocked; with a plain FOR
    # UPDATE the two deadlocked over the credential rows.
    System.objects.select_for_update(no_key=True).filter(pk=run.system_id).exists()
    return (
        ReconciliationRun.objects.select_for_update(no_key=True)
        .filter(pk=run.pk, status=ReconciliationRun.Status.RUNNING)
        .exists()
    )


def _stopped(run: ReconciliationRun) -> ReconciliationRun:
    logger.info("reconciliation run %s stopped: no longer running (abandoned)", run.pk)
    run.refresh_from_db()
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
