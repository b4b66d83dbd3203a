"""The batch: claim with a lease, call the connector, record the outcome.

One task claims up to N due pending credentials of one system, revokes them in as
few round trips as the target allows, reads them back, and writes every state,
attempt row, manual task and audit event in one transaction. Which row ends how
is decided by the pure ``outcomes.classify``; this module does the I/O around it.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import transaction

from access.models import Credential, System
from audit.services import PendingEvent, audit_record_many
from ops.logs import log_context
from revocation.connectors.base import (
    Connector,
    ConnectorError,
    connector_for,
    not_found_error,
)
from revocation.models import ManualTask, RevocationAttempt
from revocation.services.alerts import alert_failed, notify_owner
from revocation.services.attempts import attempt_row, attempt_rows, insert_attempts
from revocation.services.breaker import gate, outage_open
from revocation.services.changes import RowChange, rows_change, still_leased
from revocation.services.common import db_now, in_ids, worker_actor, worker_identity
from revocation.services.events import batch_outcome_events
from revocation.services.leases import LeaseHeartbeat, claim, lease_release
from revocation.services.manual import open_manual_tasks, settle_manual_tasks
from revocation.services.observe import batch_observe_on_commit
from revocation.services.outcomes import Classified, ConnectorReport, Failure, classify
from revocation.services.pace import batch_limit, connector_budget, pace_record

logger = logging.getLogger(__name__)
Outcome = RevocationAttempt.Outcome


def retry_delay(attempt: int) -> float:
    """Seconds before try ``attempt + 1``: the configured ladder with jitter."""
    ladder = settings.SUNDOWN_REVOCATION_RETRY_DELAYS
    base = float(ladder[min(attempt, len(ladder)) - 1]) if attempt >= 1 else 0.0
    jitter = settings.SUNDOWN_REVOCATION_RETRY_JITTER
    return base * (1 + random.uniform(-jitter, jitter))


def max_attempts() -> int:
    return settings.SUNDOWN_REVOCATION_MAX_ATTEMPTS


@dataclass
class BatchResult:
    """What one claimed batch came to (for logs, tests and the bench)."""

    claimed: int = 0
    revoked: list[int] = field(default_factory=list)
    handed_off: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    lost_lease: list[int] = field(default_factory=list)
    deferred: list[int] = field(default_factory=list)


def revocation_batch_run(*, system_id: int, worker: str | None = None) -> BatchResult:
    """Claim one batch of a system's pending credentials and take it through the machine."""
    worker = worker or worker_identity()
    if not gate(system_id):
        return BatchResult()  # its target is down: the probe decides when to go on
    lease = f"{worker}/{uuid.uuid4().hex[:12]}"
    rows, claimed_at = claim(system_id=system_id, lease=lease, limit=batch_limit(system_id))
    if not rows:
        return BatchResult()
    try:
        # The pulse says this process is alive: if it dies, the rows are claimed again
        # within SUNDOWN_REVOCATION_LIVENESS_SECONDS instead of at the lease's end.
        with LeaseHeartbeat(lease):
            system = System.objects.get(pk=system_id)
            with log_context(system=system.pk, agency=system.agency_id):
                return _run_claimed(system=system, rows=rows, lease=lease, claimed_at=claimed_at)
    finally:
        lease_release(lease)


def _run_claimed(
    *, system: System, rows: list[Credential], lease: str, claimed_at: datetime
) -> BatchResult:
    started = time.monotonic()
    report = _call_connector(system, rows, deadline=started + connector_budget())
    duration_ms = int((time.monotonic() - started) * 1000)
    decided = _record_batch(
        system=system,
        rows=rows,
        lease=lease,
        report=report,
        started_at=claimed_at,
        duration_ms=duration_ms,
    )
    result = BatchResult(
        claimed=len(rows),
        revoked=decided.revoked,
        handed_off=decided.handed_off,
        retrying=decided.retrying,
        failed=decided.failed,
        lost_lease=decided.lost_lease,
        deferred=decided.deferred,
    )
    tried = len(rows) - len(decided.untried)
    if tried and not decided.unreachable:
        pace_record(system_id=system.pk, seconds=duration_ms / 1000, credentials=tried)
    logger.info(
        "system %s (%s): claimed %d, revoked %d, to a person %d, retrying %d, failed %d, "
        "lease lost %d, deferred %d, target %d ms",
        system.pk,
        system.kind,
        result.claimed,
        len(result.revoked),
        len(result.handed_off),
        len(result.retrying),
        len(result.failed),
        len(result.lost_lease),
        len(result.deferred),
        duration_ms,
    )
    return result


# Call the connector -----------------------------------------------------------


def _call_connector(system: System, rows: list[Credential], *, deadline: float) -> ConnectorReport:
    """Revoke then read back; every row gets an entry, whatever the connector does.

    Manual systems report ``verifies=False``: they hand the work to a person.
    """
    try:
        connector = connector_for(system)
    except ConnectorError as exc:
        return ConnectorReport(errors={row.pk: exc for row in rows})
    connector.deadline = deadline
    verifies = connector.verifies
    still_active: set[int] = set()
    seen: set[int] = set()
    try:
        results: dict[int, ConnectorError | None] = {}
        to_revoke = rows
        if verifies:
            results, to_revoke, seen = _presence(connector, rows)
        try:
            if to_revoke:
                results.update(connector.revoke_many(to_revoke))
        except ConnectorError as exc:
            results.update({row.pk: exc for row in to_revoke})
        for row in rows:
            results.setdefault(
                row.pk, ConnectorError("connector returned no result for this credential")
            )
        done = [row for row in rows if results[row.pk] is None]
        if verifies and done:
            try:
                still_active = set(connector.still_active(done))
            except ConnectorError as exc:
                for row in done:
                    results[row.pk] = ConnectorError(
                        f"verify read failed: {exc.message}",
                        permanent=False,
                        unreachable=exc.unreachable,
                    )
    except Exception as exc:  # a connector bug must not strand the batch
        logger.exception("connector %s crashed on system %s", system.kind, system.pk)
        results = {row.pk: ConnectorError(f"{type(exc).__name__}: {exc}") for row in rows}
        still_active = set()
        seen = set()
    finally:
        try:
            connector.close()
        except Exception:  # the outcome is known by now: a failed close must not undo it
            logger.warning("could not close the connector of system %s", system.pk, exc_info=True)
    return ConnectorReport(
        errors=results,
        still_active=frozenset(still_active),
        verifies=verifies,
        seen=frozenset(seen),
        notes=dict(getattr(connector, "notes", {})),
    )


def _presence(
    connector: Connector, rows: list[Credential]
) -> tuple[dict[int, ConnectorError | None], list[Credential], set[int]]:
    """Read which accounts the target shows, before touching any.

    Returns the errors so far, the rows to revoke and the rows the target showed.
    An account it does not show is "already gone" only if Sundown saw it there
    before; otherwise the identifier is wrong (a typo, another case, another host)
    and counting it revoked would be a lie, so it fails for a person to look at.
    """
    try:
        missing = connector.missing(rows)
    except ConnectorError as exc:
        return {row.pk: exc for row in rows}, [], set()
    errors: dict[int, ConnectorError | None] = {}
    to_revoke = []
    for row in rows:
        if row.pk in missing and row.last_seen_on_target_at is None:
            errors[row.pk] = not_found_error(row.external_id, missing[row.pk])
        else:
            to_revoke.append(row)
    return errors, to_revoke, {row.pk for row in rows if row.pk not in missing}


# Record -----------------------------------------------------------------------


def _record_batch(
    *,
    system: System,
    rows: list[Credential],
    lease: str,
    report: ConnectorReport,
    started_at: datetime,
    duration_ms: int,
) -> Classified:
    """Write the batch's outcome in one transaction: states, attempts, tasks, audit."""
    by_pk = {row.pk: row for row in rows}
    with transaction.atomic():
        now = db_now()
        decided = _write_rows(rows, lease=lease, report=report, now=now)
        failed = [f for f in decided.failures if f.final]
        events = batch_outcome_events(rows, decided, system=system, notes=report.notes)
        insert_attempts(
            _attempt_rows(
                rows,
                decided,
                system=system,
                lease=lease,
                started_at=started_at,
                finished_at=now,
                duration_ms=duration_ms,
            )
        )
        if decided.revoked:
            # A failed credential that was requested again and has now gone through
            # automatically: its earlier manual task is settled, and audited like a
            # person's confirmation so the trail shows who closed it.
            settle_manual_tasks(
                credential_ids=decided.revoked, system=system, now=now, events=events
            )
        _open_tasks(decided, failed, by_pk=by_pk, system=system, now=now, events=events)
        if decided.unreachable is not None:
            _defer(rows, decided, system=system, lease=lease, started_at=started_at, now=now)
        # Its read before the audit append: from the append to the commit this batch
        # holds the chain's head, which every other batch's append waits for.
        batch_observe_on_commit(system=system, rows=rows, decided=decided, now=now)
        _mail_on_commit(decided, failed, by_pk=by_pk, system=system)
        audit_record_many(actor=worker_actor(), events=events)
    return decided


class _LeaseLost(Exception):
    """Some row of the batch is no longer under its lease (rolls back the savepoint)."""


def _write_rows(
    rows: list[Credential], *, lease: str, report: ConnectorReport, now: datetime
) -> Classified:
    """Decide every row and write its new state; the rows another worker took over
    (this lease expired or its pulse stopped) are theirs to record, never both of us.

    Usually every row is still ours, so the rows are decided as ours and written by
    UPDATEs that only touch rows still under this lease: when they wrote every row,
    that is the outcome, with no separate locking read. If one fell short, the
    savepoint undoes them, and the rows still ours are locked, decided and written.
    """
    revoked_by = worker_actor().name
    try:
        with transaction.atomic():
            decided = classify(
                rows, mine={row.pk for row in rows}, report=report, max_attempts=max_attempts()
            )
            changes = _row_changes(decided, seen=report.seen)
            if rows_change(changes, now=now, revoked_by=revoked_by, lease=lease) < len(rows):
                raise _LeaseLost
            return decided
    except _LeaseLost:
        pass
    mine = _lock_still_mine(rows, lease)
    decided = classify(rows, mine=mine, report=report, max_attempts=max_attempts())
    rows_change(
        _row_changes(decided, seen=report.seen), now=now, revoked_by=revoked_by, lease=lease
    )
    return decided


def _lock_still_mine(rows: list[Credential], lease: str) -> set[int]:
    """The rows still under our lease, locked so they stay ours until we commit."""
    return set(
        Credential.objects.select_for_update()
        .filter(in_ids("pk", [row.pk for row in rows]), still_leased(lease))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _row_changes(decided: Classified, *, seen: frozenset[int]) -> dict[int, RowChange]:
    """What every row still ours becomes (``classify`` lists the others as lost: they
    are someone else's to write)."""
    status = Credential.Status
    changes: dict[int, RowChange] = {}

    def put(pk: int, **change) -> None:
        changes[pk] = RowChange(seen=pk in seen, **change)

    # Every revoked row gets one of two changes, made once each (a frozen dataclass per
    # row was 4% of a batch's Python time).
    revoked = {
        flag: RowChange(status=status.REVOKED, error="", revoked=True, seen=flag)
        for flag in (False, True)
    }
    for pk in decided.revoked:
        changes[pk] = revoked[pk in seen]
    # Jitter per batch, not per credential: the batch stays one batch on retry,
    # while batches of different systems spread out.
    delays: dict[int, float] = {}
    for f in decided.failures:
        message = f.message[:2000]
        if f.final:
            put(f.pk, status=status.FAILED, error=message)
        else:
            delay = delays.setdefault(f.attempt, retry_delay(f.attempt))
            put(f.pk, status=status.PENDING, retry_in=delay, error=message)
    for pk in decided.handed_off:
        # Waiting for a person: pending, but never claimed again by a worker.
        put(pk, status=status.PENDING)
    untried = set(decided.untried)
    unreachable = decided.unreachable
    for pk in decided.deferred:
        if pk in untried:
            # Back to the queue uncounted: the batch's time ran out before this row.
            put(pk, status=status.PENDING, keep_due=True, uncount=True)
        elif unreachable is not None:
            # Still due: the system waits for its target (the outage's probe).
            error = f"target unreachable: {unreachable.message}"[:2000]
            put(pk, status=status.PENDING, keep_due=True, error=error)
    return changes


def _attempt_rows(
    rows: list[Credential],
    decided: Classified,
    *,
    system: System,
    lease: str,
    started_at: datetime,
    finished_at: datetime,
    duration_ms: int,
) -> list[tuple]:
    """One attempt row per credential still ours, each with its outcome."""
    outcome_of: dict[int, tuple[str, str, bool]] = {}
    for pk in decided.handed_off:
        outcome_of[pk] = (Outcome.HANDED_OFF, "", False)
    for pk in decided.revoked:
        outcome_of[pk] = (Outcome.SUCCESS, "", False)
    for f in decided.failures:
        outcome_of[f.pk] = (f.outcome, f.message[:2000], f.permanent)
    # Grouped by outcome, first seen first: the order the rows were always written in.
    groups: dict[tuple[str, str, bool], list[Credential]] = defaultdict(list)
    for row in rows:
        if row.pk in outcome_of:
            groups[outcome_of[row.pk]].append(row)
    return [
        attempt
        for (outcome, message, permanent), group in groups.items()
        for attempt in attempt_rows(
            group,
            system_id=system.pk,
            connector=system.kind,
            worker=lease,
            outcome=outcome,
            permanent=permanent,
            error=message,
            started_at=started_at,
            finished_at=finished_at,
            duration_ms=duration_ms,
        )
    ]


def _defer(
    rows: list[Credential],
    decided: Classified,
    *,
    system: System,
    lease: str,
    started_at: datetime,
    now: datetime,
) -> None:
    """The target did not answer for some rows (back in the queue, still due): open the
    system's outage and write one attempt row for the batch."""
    untried = set(decided.untried)
    waiting = set(decided.deferred) - untried
    unanswered = [row for row in rows if row.pk in waiting]
    if not unanswered or decided.unreachable is None:
        return
    error = decided.unreachable
    outage_open(system=system, error=error, deferred=len(unanswered))
    first = unanswered[0]
    insert_attempts(
        [
            attempt_row(
                first,
                system_id=system.pk,
                connector=system.kind,
                worker=lease,
                attempt=first.attempts,
                outcome=Outcome.DEFERRED,
                error=(
                    f"{error.message} ({len(unanswered)} credential(s) of this batch wait "
                    "for the target; one row for the batch)"
                )[:2000],
                started_at=started_at,
                finished_at=now,
            )
        ]
    )


def _open_tasks(
    decided: Classified,
    failed: list[Failure],
    *,
    by_pk: dict[int, Credential],
    system: System,
    now: datetime,
    events: list[PendingEvent],
) -> None:
    """A manual task per failed credential and per credential handed to a person."""
    tasks = [
        ManualTask(
            credential_id=f.pk,
            system_id=system.pk,
            reason=ManualTask.Reason.FAILED,
            detail=f.message[:2000],
            opened_at=now,
        )
        for f in failed
    ] + [
        ManualTask(
            credential_id=pk,
            system_id=system.pk,
            reason=ManualTask.Reason.MANUAL_SYSTEM,
            opened_at=now,
        )
        for pk in decided.handed_off
    ]
    if tasks:
        open_manual_tasks(tasks, by_pk=by_pk, system=system, events=events)


def _mail_on_commit(
    decided: Classified, failed: list[Failure], *, by_pk: dict[int, Credential], system: System
) -> None:
    if failed:
        failed_rows = [by_pk[f.pk] for f in failed]
        errors = {f.pk: f.message for f in failed}
        transaction.on_commit(lambda: alert_failed(system, failed_rows, errors))
    if decided.handed_off:
        handed = [by_pk[pk] for pk in decided.handed_off]
        transaction.on_commit(lambda: notify_owner(system, handed))
