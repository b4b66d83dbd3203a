"""Writes of the revocation engine: requests, the batch state machine, sweep, notices.

State machine (see DESIGN.md): active -> pending -> revoked, pending -> failed ->
manual task. Every transition writes its audit events in the same transaction.
The database is the source of truth and its clock decides; Celery only delivers
ids (revocation.tasks), so a lost, duplicated or replayed message changes nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import Now
from django.utils import timezone

from access.models import Credential, System
from audit.actor import Actor
from audit.services import PendingEvent, audit_record, audit_record_many
from revocation.connectors.base import ConnectorError, connector_for
from revocation.models import ExpiryNotice, ManualTask, RevocationAttempt
from vendors.models import Contract, Vendor

logger = logging.getLogger(__name__)

REVOCABLE = (Credential.Status.ACTIVE, Credential.Status.FAILED)
NOTICE_DAYS = (30, 7, 1)


def _setting(name: str, default):
    return getattr(settings, name, default)


def worker_actor() -> Actor:
    return Actor.system("revocation-worker")


def worker_identity() -> str:
    """Who holds a lease: host and pid, so an attempt row names the process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def db_now() -> datetime:
    """The database clock; decisions never use the worker's clock."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT now()")
            return cursor.fetchone()[0]
    return timezone.now()  # SQLite runs on this machine: its clock is ours


_KIND_LABELS = dict(Credential.Kind.choices)


def _target(row: Credential) -> tuple[str, int, str]:
    return _target_of(row.pk, row.external_id, row.kind)


def _target_of(pk: int, external_id: str, kind: str) -> tuple[str, int, str]:
    # The same (type, id, repr) audit.services derives from the model, built from
    # plain values: a sweep of 100,000 credentials should not build 100,000 models.
    return ("access.credential", pk, f"{external_id} ({_KIND_LABELS.get(kind, kind)})")


def _dispatch_on_commit(system_ids: Iterable[int]) -> None:
    system_ids = sorted(set(system_ids))
    if not system_ids:
        return

    def send():
        from revocation.tasks import revoke_system_batch_task

        for system_id in system_ids:
            try:
                revoke_system_batch_task.delay(system_id)
            except Exception:  # broker down: the sweep dispatches pending work again
                logger.exception("could not enqueue revocation of system %s", system_id)

    transaction.on_commit(send)


# Requests: active/failed -> pending ------------------------------------------


def _request_revocation(
    *,
    actor: Actor,
    queryset: QuerySet[Credential],
    reason: str,
    trigger: str,
    skip_locked: bool = False,
    extra: dict | None = None,
    statuses: tuple[str, ...] = REVOCABLE,
) -> list[int]:
    """Move the revocable credentials of ``queryset`` to pending; must run in a transaction.

    Returns the ids moved. Rows are locked first so a concurrent request (a second
    sweep, a kill switch) either waits and then sees them pending, or, with
    ``skip_locked``, leaves them to whoever holds them. Either way each credential
    gets one request event.
    """
    rows = list(
        queryset.select_for_update(skip_locked=skip_locked, of=("self",))
        .filter(status__in=statuses)
        .order_by("pk")
        .values_list("pk", "external_id", "kind", "status", "system_id", "system__agency_id")
    )
    if not rows:
        return []
    ids = [row[0] for row in rows]
    Credential.objects.filter(pk__in=ids).update(
        status=Credential.Status.PENDING,
        revocation_requested_at=Now(),
        revocation_reason=reason,
        revocation_requested_by=actor.name[:200],
        next_attempt_at=Now(),
        attempts=0,
        lease_owner="",
        lease_expires_at=None,
        last_error="",
        updated_at=Now(),
    )
    after = {"status": "pending", "reason": reason, "trigger": trigger, **(extra or {})}
    audit_record_many(
        actor=actor,
        events=[
            PendingEvent(
                action="credential.revocation_requested",
                target=_target_of(pk, external_id, kind),
                agency_id=agency_id,
                before={"status": status},
                after=after,
            )
            for pk, external_id, kind, status, _system_id, agency_id in rows
        ],
    )
    _dispatch_on_commit(row[4] for row in rows)
    return ids


def credential_revoke(*, actor: Actor, credential: Credential, reason: str) -> Credential:
    """Revoke one credential now (active or failed -> pending; dispatched on commit)."""
    if not reason or not reason.strip():
        raise ValidationError({"reason": "Say why the credential is revoked."})
    with transaction.atomic():
        current = Credential.objects.select_for_update().get(pk=credential.pk)
        if current.status not in REVOCABLE:
            return current  # already pending or revoked: nothing more to do
        _request_revocation(
            actor=actor,
            queryset=Credential.objects.filter(pk=credential.pk),
            reason=reason.strip(),
            trigger="manual_revoke",
        )
    return Credential.objects.get(pk=credential.pk)


def vendor_kill_switch(*, actor: Actor, vendor: Vendor, reason: str) -> list[Credential]:
    """Revoke every active or failed credential of ``vendor`` now and suspend the vendor."""
    if not reason or not reason.strip():
        raise ValidationError({"reason": "Say why the kill switch is used."})
    reason = reason.strip()
    with transaction.atomic():
        vendor = Vendor.objects.select_for_update().get(pk=vendor.pk)
        ids = _request_revocation(
            actor=actor,
            queryset=Credential.objects.filter(vendor=vendor),
            reason=reason,
            trigger="kill_switch",
        )
        before_status = vendor.status
        # Suspended, not offboarding: the kill switch is an emergency stop, and a
        # suspended vendor is what the dashboard flags for follow-up.
        if vendor.status != Vendor.Status.SUSPENDED:
            Vendor.objects.filter(pk=vendor.pk).update(
                status=Vendor.Status.SUSPENDED, updated_at=Now()
            )
        audit_record(
            actor=actor,
            action="vendor.kill_switch",
            target=vendor,
            agency_id=vendor.agency_id,
            before={"status": before_status},
            after={
                "status": Vendor.Status.SUSPENDED,
                "reason": reason,
                "credentials": ids,
            },
        )
    return list(Credential.objects.filter(pk__in=ids).order_by("pk"))


def manual_task_complete(*, actor: Actor, task: ManualTask, note: str) -> ManualTask:
    """A person confirms they revoked the credential by hand."""
    if not note or not note.strip():
        raise ValidationError({"note": "Say what you did to revoke the access."})
    note = note.strip()
    with transaction.atomic():
        # Credential before task, the order the batch locks them in: the other
        # order deadlocks with a worker settling the same task.
        credential = Credential.objects.select_for_update().get(
            pk=ManualTask.objects.values_list("credential_id", flat=True).get(pk=task.pk)
        )
        task = ManualTask.objects.select_for_update().select_related("system").get(pk=task.pk)
        if task.status == ManualTask.Status.DONE:
            return task
        events = []
        if credential.status != Credential.Status.REVOKED:
            before = credential.status
            Credential.objects.filter(pk=credential.pk).update(
                status=Credential.Status.REVOKED,
                revoked_at=Now(),
                revoked_by=actor.name[:200],
                lease_owner="",
                lease_expires_at=None,
                next_attempt_at=None,
                updated_at=Now(),
            )
            events.append(
                PendingEvent(
                    action="credential.revoked",
                    target=_target(credential),
                    agency_id=task.system.agency_id,
                    before={"status": before},
                    after={
                        "status": "revoked",
                        "verified": False,
                        "confirmed_by": actor.name,
                        "manual_task": task.pk,
                        "note": note,
                    },
                )
            )
        ManualTask.objects.filter(pk=task.pk).update(
            status=ManualTask.Status.DONE,
            completed_at=Now(),
            completed_by=actor.name[:200],
            note=note,
        )
        events.append(
            PendingEvent(
                action="manual_task.completed",
                target=("revocation.manualtask", task.pk, f"manual task {task.pk}"),
                agency_id=task.system.agency_id,
                before={"status": "open"},
                after={"status": "done", "credential": credential.pk, "note": note},
            )
        )
        audit_record_many(actor=actor, events=events)
    return ManualTask.objects.get(pk=task.pk)


# The batch: claim, revoke, verify, record ------------------------------------


def retry_delay(attempt: int) -> float:
    """Seconds before try ``attempt + 1``: the configured ladder with jitter."""
    ladder = _setting("SUNDOWN_REVOCATION_RETRY_DELAYS", [5, 30, 120, 600])
    base = float(ladder[min(attempt, len(ladder)) - 1]) if attempt >= 1 else 0.0
    jitter = _setting("SUNDOWN_REVOCATION_RETRY_JITTER", 0.2)
    return base * (1 + random.uniform(-jitter, jitter))


def max_attempts() -> int:
    return _setting("SUNDOWN_REVOCATION_MAX_ATTEMPTS", 5)


@dataclass
class BatchResult:
    """What one claimed batch came to (for logs, tests and the bench)."""

    claimed: int = 0
    revoked: list[int] = field(default_factory=list)
    handed_off: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    lost_lease: list[int] = field(default_factory=list)


def _claim(*, system_id: int, lease: str, limit: int) -> tuple[list[Credential], datetime]:
    """Take up to ``limit`` due pending credentials of one system under a lease.

    The conditional UPDATE is the lease: only rows that are pending, due and not
    leased by a live worker are taken, and SKIP LOCKED keeps two claimers apart.
    An expired lease (a worker that died) is simply taken again.
    """
    lease_seconds = _setting("SUNDOWN_REVOCATION_LEASE_SECONDS", 120)
    with transaction.atomic():
        claimable = (
            Credential.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                system_id=system_id,
                status=Credential.Status.PENDING,
                next_attempt_at__lte=Now(),
            )
            .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=Now()))
            .order_by("next_attempt_at", "pk")
        )
        rows = list(claimable[:limit])
        if not rows:
            return [], timezone.now()
        Credential.objects.filter(pk__in=[row.pk for row in rows]).update(
            lease_owner=lease,
            lease_expires_at=Now() + timedelta(seconds=lease_seconds),
            attempts=F("attempts") + 1,
        )
        now = db_now()
        # A lease that expired with its owner still named on the row is a worker
        # that died between claim and outcome: that attempt is recorded as lost.
        lost = [row for row in rows if row.lease_owner]
        if lost:
            _record_abandoned(system_id=system_id, rows=lost, now=now, lease_seconds=lease_seconds)
        for row in rows:
            row.attempts += 1
            row.lease_owner = lease
    return rows, now


def _record_abandoned(
    *, system_id: int, rows: list[Credential], now: datetime, lease_seconds: int
) -> None:
    """Attempts whose worker died before recording an outcome: a row and an event each."""
    system = System.objects.only("kind", "agency_id").get(pk=system_id)
    error = "worker lost before recording an outcome (lease expired)"
    _insert_attempts(
        [
            _attempt_row(
                row,
                system_id=system_id,
                connector=system.kind,
                worker=row.lease_owner,
                attempt=row.attempts,
                outcome=RevocationAttempt.Outcome.ABANDONED,
                error=error,
                # Approximate: the lease was taken this long before it expired.
                started_at=(row.lease_expires_at or now) - timedelta(seconds=lease_seconds),
                finished_at=now,
            )
            for row in rows
        ]
    )
    audit_record_many(
        actor=worker_actor(),
        events=[
            PendingEvent(
                action="credential.revocation_attempt_failed",
                target=_target(row),
                agency_id=system.agency_id,
                after={
                    "connector": system.kind,
                    "attempt": row.attempts,
                    "outcome": RevocationAttempt.Outcome.ABANDONED,
                    "error": error,
                    "worker": row.lease_owner,
                    "permanent": False,
                },
            )
            for row in rows
        ],
    )


_ATTEMPT_COLUMNS = (
    "credential_id",
    "system_id",
    "connector",
    "worker",
    "attempt",
    "outcome",
    "permanent",
    "error",
    "started_at",
    "finished_at",
    "duration_ms",
)


def _attempt_row(row: Credential, **values) -> tuple:
    values.setdefault("permanent", False)
    values.setdefault("error", "")
    values.setdefault("duration_ms", None)
    values["credential_id"] = row.pk
    return tuple(values[name] for name in _ATTEMPT_COLUMNS)


def _insert_attempts(rows: list[tuple]) -> None:
    """One multi-row INSERT per batch: the ORM's per-field preparation of 500 rows
    costs more than the statement itself, and this sits on the hot path."""
    if not rows:
        return
    adapt = connection.ops.adapt_datetimefield_value
    params = []
    for row in rows:
        for name, value in zip(_ATTEMPT_COLUMNS, row, strict=True):
            params.append(adapt(value) if name in ("started_at", "finished_at") else value)
    placeholders = "(" + ", ".join(["%s"] * len(_ATTEMPT_COLUMNS)) + ")"
    table = RevocationAttempt._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(_ATTEMPT_COLUMNS)}) VALUES "
            + ", ".join([placeholders] * len(rows)),
            params,
        )


def _call_connector(
    system: System, rows: list[Credential]
) -> tuple[dict[int, ConnectorError | None], set[int], bool]:
    """Revoke then read back. Returns per-credential errors, the still-active ids, and
    whether the connector verifies at all (manual systems hand off to a person)."""
    try:
        connector = connector_for(system)
    except ConnectorError as exc:
        return {row.pk: exc for row in rows}, set(), True
    verifies = connector.verifies
    still_active: set[int] = set()
    try:
        try:
            results = connector.revoke_many(rows)
        except ConnectorError as exc:
            results = {row.pk: exc for row in rows}
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
                        f"verify read failed: {exc.message}", permanent=False
                    )
    except Exception as exc:  # a connector bug must not strand the batch
        logger.exception("connector %s crashed on system %s", system.kind, system.pk)
        results = {row.pk: ConnectorError(f"{type(exc).__name__}: {exc}") for row in rows}
        still_active = set()
    finally:
        try:
            connector.close()
        except Exception:  # the outcome is known by now: a failed close must not undo it
            logger.warning("could not close the connector of system %s", system.pk, exc_info=True)
    return results, still_active, verifies


def revocation_batch_run(*, system_id: int, worker: str | None = None) -> BatchResult:
    """Claim one batch of a system's pending credentials and take it through the machine."""
    worker = worker or worker_identity()
    lease = f"{worker}/{uuid.uuid4().hex[:12]}"
    limit = _setting("SUNDOWN_REVOCATION_BATCH_SIZE", 500)
    rows, claimed_at = _claim(system_id=system_id, lease=lease, limit=limit)
    result = BatchResult(claimed=len(rows))
    if not rows:
        return result
    system = System.objects.get(pk=system_id)
    started = time.monotonic()
    results, still_active, verifies = _call_connector(system, rows)
    duration_ms = int((time.monotonic() - started) * 1000)
    _record_batch(
        system=system,
        rows=rows,
        lease=lease,
        results=results,
        still_active=still_active,
        verifies=verifies,
        started_at=claimed_at,
        duration_ms=duration_ms,
        result=result,
    )
    logger.info(
        "system %s (%s): claimed %d, revoked %d, to a person %d, retrying %d, failed %d, "
        "lease lost %d, target %d ms",
        system.pk,
        system.kind,
        result.claimed,
        len(result.revoked),
        len(result.handed_off),
        len(result.retrying),
        len(result.failed),
        len(result.lost_lease),
        duration_ms,
    )
    return result


def _record_batch(
    *,
    system: System,
    rows: list[Credential],
    lease: str,
    results: dict[int, ConnectorError | None],
    still_active: set[int],
    verifies: bool,
    started_at: datetime,
    duration_ms: int,
    result: BatchResult,
) -> None:
    """Write the batch's outcome in one transaction: states, attempts, tasks, audit."""
    actor = worker_actor()
    Outcome = RevocationAttempt.Outcome
    with transaction.atomic():
        # Only rows still under our lease: if it expired and someone else took them,
        # they record the outcome, never both of us.
        mine = set(
            Credential.objects.select_for_update()
            .filter(
                pk__in=[row.pk for row in rows],
                lease_owner=lease,
                status=Credential.Status.PENDING,
            )
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        now = db_now()
        events: list[PendingEvent] = []
        attempt_groups: dict[tuple[str, str, bool], list[int]] = defaultdict(list)
        retry_groups: dict[tuple[int, str], list[int]] = defaultdict(list)
        failed_errors: dict[int, str] = {}
        by_pk = {row.pk: row for row in rows}
        for row in rows:
            if row.pk not in mine:
                result.lost_lease.append(row.pk)
                continue
            error = results.get(row.pk)
            base_after = {"connector": system.kind, "attempt": row.attempts}
            if error is None and not verifies:
                result.handed_off.append(row.pk)
                attempt_groups[(Outcome.HANDED_OFF, "", False)].append(row.pk)
                continue
            if error is None and row.pk not in still_active:
                result.revoked.append(row.pk)
                attempt_groups[(Outcome.SUCCESS, "", False)].append(row.pk)
                events.append(
                    PendingEvent(
                        action="credential.revoked",
                        target=_target(row),
                        agency_id=system.agency_id,
                        before={"status": "pending"},
                        after={"status": "revoked", "verified": True, **base_after},
                    )
                )
                continue
            if error is None:
                outcome, message, permanent = (
                    Outcome.VERIFY_FAILED,
                    "the target still accepts this credential after revocation",
                    False,
                )
            else:
                outcome, message, permanent = Outcome.ERROR, error.message, error.permanent
            attempt_groups[(outcome, message[:2000], permanent)].append(row.pk)
            events.append(
                PendingEvent(
                    action="credential.revocation_attempt_failed",
                    target=_target(row),
                    agency_id=system.agency_id,
                    after={
                        **base_after,
                        "outcome": outcome,
                        "error": message,
                        "permanent": permanent,
                    },
                )
            )
            if permanent or row.attempts >= max_attempts():
                result.failed.append(row.pk)
                failed_errors[row.pk] = message
                events.append(
                    PendingEvent(
                        action="credential.revocation_failed",
                        target=_target(row),
                        agency_id=system.agency_id,
                        before={"status": "pending"},
                        after={
                            "status": "failed",
                            "error": message,
                            "attempts": row.attempts,
                            "permanent": permanent,
                        },
                    )
                )
            else:
                result.retrying.append(row.pk)
                retry_groups[(row.attempts, message[:2000])].append(row.pk)

        # One attempt row per credential, written with its outcome.
        _insert_attempts(
            [
                _attempt_row(
                    by_pk[pk],
                    system_id=system.pk,
                    connector=system.kind,
                    worker=lease,
                    attempt=by_pk[pk].attempts,
                    outcome=outcome,
                    permanent=permanent,
                    error=message,
                    started_at=started_at,
                    finished_at=now,
                    duration_ms=duration_ms,
                )
                for (outcome, message, permanent), pks in attempt_groups.items()
                for pk in pks
            ]
        )
        clear_lease = {"lease_owner": "", "lease_expires_at": None, "updated_at": Now()}
        if result.revoked:
            Credential.objects.filter(pk__in=result.revoked).update(
                status=Credential.Status.REVOKED,
                revoked_at=Now(),
                revoked_by=actor.name,
                next_attempt_at=None,
                last_error="",
                **clear_lease,
            )
            # A failed credential that was requested again and has now gone through
            # automatically: its earlier manual task is settled, and audited like a
            # person's confirmation so the trail shows who closed it.
            _settle_manual_tasks(
                credential_ids=result.revoked, system=system, now=now, events=events
            )
        # Jitter per batch, not per credential: the batch stays one batch on retry,
        # while batches of different systems spread out.
        delays: dict[int, float] = {}
        for (attempt, message), pks in retry_groups.items():
            delay = delays.setdefault(attempt, retry_delay(attempt))
            Credential.objects.filter(pk__in=pks).update(
                next_attempt_at=Now() + timedelta(seconds=delay),
                last_error=message,
                **clear_lease,
            )
        if result.failed:
            for message, pks in _group_by_value(failed_errors).items():
                Credential.objects.filter(pk__in=pks).update(
                    status=Credential.Status.FAILED,
                    next_attempt_at=None,
                    last_error=message[:2000],
                    **clear_lease,
                )
        tasks = [
            ManualTask(
                credential_id=pk,
                system_id=system.pk,
                reason=ManualTask.Reason.FAILED,
                detail=failed_errors[pk][:2000],
                opened_at=now,
            )
            for pk in result.failed
        ] + [
            ManualTask(
                credential_id=pk,
                system_id=system.pk,
                reason=ManualTask.Reason.MANUAL_SYSTEM,
                opened_at=now,
            )
            for pk in result.handed_off
        ]
        if tasks:
            _open_manual_tasks(tasks, by_pk=by_pk, system=system, events=events)
        if result.handed_off:
            # Waiting for a person: pending, but never claimed again by a worker.
            Credential.objects.filter(pk__in=result.handed_off).update(
                next_attempt_at=None, **clear_lease
            )
        audit_record_many(actor=actor, events=events)
        if result.failed:
            failed_rows = [by_pk[pk] for pk in result.failed]
            transaction.on_commit(lambda: _alert_failed(system, failed_rows, failed_errors))
        if result.handed_off:
            handed = [by_pk[pk] for pk in result.handed_off]
            transaction.on_commit(lambda: _notify_owner(system, handed))


def _group_by_value(mapping: dict[int, str]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for key, value in mapping.items():
        groups[value].append(key)
    return groups


def _open_manual_tasks(
    tasks: list[ManualTask], *, by_pk: dict[int, Credential], system: System, events: list
) -> None:
    already_open = dict(
        ManualTask.objects.filter(
            credential_id__in=[t.credential_id for t in tasks], status=ManualTask.Status.OPEN
        ).values_list("credential_id", "pk")
    )
    # Failed again after a new request: the open task keeps the latest error, as
    # its detail promises, rather than the one from the first failure.
    latest = {
        already_open[t.credential_id]: t.detail
        for t in tasks
        if t.credential_id in already_open and t.detail
    }
    for detail, pks in _group_by_value(latest).items():
        ManualTask.objects.filter(pk__in=pks).update(detail=detail)
    new = [t for t in tasks if t.credential_id not in already_open]
    ManualTask.objects.bulk_create(new)
    for task in new:
        events.append(
            PendingEvent(
                action="manual_task.opened",
                target=("revocation.manualtask", task.pk, f"manual task {task.pk}"),
                agency_id=system.agency_id,
                after={
                    "credential": task.credential_id,
                    "credential_repr": str(by_pk[task.credential_id]),
                    "reason": task.reason,
                    "owner_email": system.owner_email or _owner_email(system),
                },
            )
        )


def _settle_manual_tasks(
    *, credential_ids: list[int], system: System, now: datetime, events: list
) -> None:
    note = "Revoked and verified automatically."
    settled = list(
        ManualTask.objects.select_for_update()
        .filter(credential_id__in=credential_ids, status=ManualTask.Status.OPEN)
        .order_by("pk")
        .values_list("pk", "credential_id")
    )
    if not settled:
        return
    ManualTask.objects.filter(pk__in=[pk for pk, _ in settled]).update(
        status=ManualTask.Status.DONE,
        completed_at=now,
        completed_by=worker_actor().name,
        note=note,
    )
    events += [
        PendingEvent(
            action="manual_task.completed",
            target=("revocation.manualtask", pk, f"manual task {pk}"),
            agency_id=system.agency_id,
            before={"status": "open"},
            after={"status": "done", "credential": credential_id, "note": note},
        )
        for pk, credential_id in settled
    ]


def _owner_email(system: System) -> str:
    return system.owner.email if system.owner_id and system.owner else ""


def security_alert_recipients(system: System) -> list[str]:
    """Configured alert addresses, the agency's security officers and the system owner."""
    from guardian.shortcuts import get_users_with_perms

    from vendors.permissions import REVOKE

    recipients = list(_setting("SUNDOWN_SECURITY_ALERT_EMAILS", []))
    officers = get_users_with_perms(
        system.agency, only_with_perms_in=[REVOKE.split(".", 1)[1]], with_group_users=False
    )
    # get_users_with_perms returns users here (with_group_users=False, no attach_perms).
    recipients += [u.email for u in officers if u.email and u.is_active]  # type: ignore[union-attr]
    for owner in (system.owner_email, _owner_email(system)):
        if owner:
            recipients.append(owner)
    return sorted(set(recipients))


def _alert_failed(system: System, rows: list[Credential], errors: dict[int, str]) -> None:
    try:
        recipients = security_alert_recipients(system)
        if not recipients:
            logger.error("revocation failed on %s but nobody is configured to be alerted", system)
            return
        lines = [f"- {row} (credential {row.pk}): {errors[row.pk]}" for row in rows]
        send_mail(
            subject=f"[Sundown] Revocation FAILED on {system.name}: {len(rows)} credential(s)",
            message=(
                f"Sundown could not revoke these credentials on {system.name} "
                f"({system.get_kind_display()}). A manual task is open for each; "
                "the access is still live until someone revokes it by hand.\n\n" + "\n".join(lines)
            ),
            from_email=None,
            recipient_list=recipients,
        )
    except Exception:  # the manual task and audit rows exist; a mail outage is logged
        logger.exception("could not send the revocation failure alert for %s", system)


def _notify_owner(system: System, rows: list[Credential]) -> None:
    """Tell the owner of a manual system what to revoke by hand."""
    recipients = sorted({e for e in (system.owner_email, _owner_email(system)) if e})
    if not recipients:
        logger.warning("manual tasks opened on %s, which has no owner to tell", system)
        return
    try:
        send_mail(
            subject=f"[Sundown] Revoke by hand on {system.name}: {len(rows)} credential(s)",
            message=(
                f"These credentials on {system.name} must be revoked by hand. Revoke each, "
                "then confirm its manual task in Sundown with a note on what you did.\n\n"
                + "\n".join(f"- {row} (credential {row.pk})" for row in rows)
            ),
            from_email=None,
            recipient_list=recipients,
        )
    except Exception:  # the tasks and their audit rows exist; a mail outage is logged
        logger.exception("could not tell the owner of %s about manual tasks", system)


# Sweep, dispatch, notices ---------------------------------------------------


def _due_credentials() -> QuerySet[Credential]:
    """Active credentials all of whose authorising contracts have ended."""
    ended = Contract.objects.filter(credentials=OuterRef("pk"), access_ends_at__lte=Now())
    live = Contract.objects.filter(credentials=OuterRef("pk"), access_ends_at__gt=Now())
    return Credential.objects.filter(Exists(ended), ~Exists(live), status=Credential.Status.ACTIVE)


@dataclass
class SweepResult:
    """What one sweep did."""

    requested: int = 0
    contracts_ended: int = 0
    dispatched: dict[int, int] = field(default_factory=dict)
    skipped: bool = False


def revocation_sweep(*, actor: Actor | None = None, chunk: int | None = None) -> SweepResult:
    """Move due credentials to pending, end contracts past their end, dispatch due work.

    Each chunk commits with its audit events, so revocation of the first chunk
    starts while later ones are still being requested. SKIP LOCKED lets a second
    concurrent sweep pass over rows the first holds instead of doubling them.
    """
    actor = actor or Actor.system("revocation-sweep")
    chunk = chunk or _setting("SUNDOWN_SWEEP_CHUNK", 2000)
    result = SweepResult()
    with _sweep_lock() as mine:
        if not mine:
            # Another sweep (a second beat, a slow previous run) is at it; one is enough.
            result.skipped = True
            return result
        _sweep_requests(actor=actor, chunk=chunk, result=result)
        result.contracts_ended = _contracts_end(actor=actor)
        result.dispatched = revocation_dispatch_due()
    return result


SWEEP_LOCK_KEY = 0x53554E44  # "SUND": a PostgreSQL advisory lock held while sweeping


@contextlib.contextmanager
def _sweep_lock():
    if connection.vendor != "postgresql":
        yield True  # SQLite serialises writers anyway; SKIP LOCKED is a no-op there
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [SWEEP_LOCK_KEY])
        got = cursor.fetchone()[0]
    try:
        yield got
    finally:
        if got:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [SWEEP_LOCK_KEY])


def _sweep_requests(*, actor: Actor, chunk: int, result: SweepResult) -> None:
    # One pass finds every due credential (a single hash join, however many ended at
    # once); each chunk then re-checks its rows under lock, so a contract extended
    # in between still keeps its credentials.
    due = list(_due_credentials().order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(due), chunk):
        with transaction.atomic():
            moved = _request_revocation(
                actor=actor,
                queryset=_due_credentials().filter(pk__in=due[start : start + chunk]),
                reason="Every contract authorising this access has ended.",
                trigger="contract_ended",
                skip_locked=True,
                statuses=(Credential.Status.ACTIVE,),
            )
        result.requested += len(moved)


def _contracts_end(*, actor: Actor) -> int:
    with transaction.atomic():
        contracts = list(
            Contract.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=Contract.Status.ACTIVE, access_ends_at__lte=Now())
            .order_by("pk")
            .values_list("pk", "reference", "access_ends_at", "vendor__agency_id")
        )
        if not contracts:
            return 0
        Contract.objects.filter(pk__in=[c[0] for c in contracts]).update(
            status=Contract.Status.ENDED, updated_at=Now()
        )
        audit_record_many(
            actor=actor,
            events=[
                PendingEvent(
                    action="contract.ended",
                    target=("vendors.contract", pk, reference),
                    agency_id=agency_id,
                    before={"status": "active"},
                    after={"status": "ended", "access_ends_at": access_ends_at},
                )
                for pk, reference, access_ends_at, agency_id in contracts
            ],
        )
    return len(contracts)


def revocation_dispatch_due() -> dict[int, int]:
    """Enqueue batch tasks for every system with claimable pending work.

    Several tasks per large backlog so more than one worker process helps; a
    surplus task finds nothing to claim and returns.
    """
    batch = _setting("SUNDOWN_REVOCATION_BATCH_SIZE", 500)
    parallel = _setting("SUNDOWN_REVOCATION_PARALLEL_PER_SYSTEM", 4)
    due = (
        Credential.objects.filter(status=Credential.Status.PENDING, next_attempt_at__lte=Now())
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=Now()))
        .values("system_id")
        .annotate(n=Count("pk"))
        .order_by("system_id")
    )
    plan = {row["system_id"]: min(parallel, -(-row["n"] // batch)) for row in due}
    if plan:
        from revocation.tasks import revoke_system_batch_task

        for system_id, n in plan.items():
            for _ in range(n):
                revoke_system_batch_task.delay(system_id)
    return plan


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
        except Exception:
            # The notice row rolled back with the mail, so the next run tries again;
            # one refused address must not hold back every contract ending later.
            logger.exception("could not send the expiry notice for contract %s", contract.pk)
    return sent


def _send_notice(*, actor: Actor, contract: Contract, days: int, now: datetime) -> int:
    vendor = contract.vendor
    recipients = sorted(
        {
            email
            for email in (
                vendor.sponsor.email if vendor.sponsor_id and vendor.sponsor else "",
                contract.procurement_contact_email,
            )
            if email
        }
    )
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
                    subject=(
                        f"[Sundown] Contract {contract.reference} with {vendor.name} "
                        f"ends in {days} day{'s' if days != 1 else ''}"
                    ),
                    message=(
                        f"Access granted under contract {contract.reference} "
                        f"({contract.title or 'untitled'}) with {vendor.name} ends at "
                        f"{ends_local:%Y-%m-%d %H:%M %Z}. Every credential it alone "
                        "authorises will then be revoked automatically.\n\n"
                        "Extend the contract before then if the access is still needed."
                    ),
                    from_email=None,
                    recipient_list=recipients,
                )
    except IntegrityError:
        return 0  # a concurrent run sent it
    return 1
