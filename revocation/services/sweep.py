"""The periodic sweep: due credentials (contracts ended, own expiry passed) to pending,
ended contracts to ended, then dispatch."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    Case,
    Exists,
    IntegerField,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Now

from access.models import Credential
from audit.actor import Actor
from audit.services import PendingEvent, audit_record_many
from config.planner import planner_without
from ops.models import Heartbeat
from ops.services import heartbeat_record
from revocation.services.common import db_now, in_ids, row_guard
from revocation.services.dispatch import revocation_dispatch_due
from revocation.services.requests import request_revocation
from revocation.tasks import revocation_request_due_task, revocation_sweep_task
from vendors.models import Contract

logger = logging.getLogger(__name__)

SWEEP_LOCK_KEY = 0x53554E44  # "SUND": a PostgreSQL advisory lock held while sweeping
# Links of contracts that ended since the last sweep from which the due read joins by
# hashing instead of one index probe per row (``_due_ids``).
MASS_END_LINKS = 10_000
# Heartbeat of the sweep's last read of every due credential (``_full_read_due``).
FULL_READ = "sweep-full-read"
# The least countdown of a sweep scheduled for a contract's end (``_sweep_at_next_end``).
NEXT_END_MIN_SECONDS = 0.25


@dataclass
class SweepResult:
    """What one sweep did."""

    requested: int = 0
    # Due credentials of a large sweep sent to other workers in chunks (``fan_out``).
    handed_out: int = 0
    expired: int = 0
    contracts_ended: int = 0
    dispatched: dict[int, int] = field(default_factory=dict)
    skipped: bool = False


def revocation_sweep(
    *, actor: Actor | None = None, chunk: int | None = None, fan_out: bool = False
) -> SweepResult:
    """Move due credentials to pending, end contracts past their end, dispatch due work.

    Each chunk commits with its audit events, so revocation of the first chunk
    starts while later ones are still being requested. SKIP LOCKED lets a second
    concurrent sweep pass over rows the first holds instead of doubling them.

    ``fan_out`` (the beat's sweep): when more than one chunk is due, every chunk but
    the first goes to a worker of its own as a task (``revocation.request_due``), so a
    worker killed mid-sweep takes one chunk with it instead of the rest of the sweep
    until the next beat tick, and the chunks are requested side by side.
    """
    actor = actor or Actor.system("revocation-sweep")
    chunk = chunk or settings.SUNDOWN_SWEEP_CHUNK
    result = SweepResult()
    with _sweep_lock() as mine:
        if not mine:
            # Another sweep (a second beat, a slow previous run) is at it; one is enough.
            result.skipped = True
            return result
        _sweep_requests(actor=actor, chunk=chunk, result=result, fan_out=fan_out)
        _sweep_expired(actor=actor, chunk=chunk, result=result)
        result.contracts_ended = _contracts_end(actor=actor)
        result.dispatched = revocation_dispatch_due()
        _sweep_at_next_end()
    # The heartbeat /readyz and the watchdog read: this sweep ran to the end. A skipped
    # sweep stamps nothing; the one holding the lock stamps when it is done.
    heartbeat_record(
        name="sweep",
        detail={
            "requested": result.requested,
            "handed_out": result.handed_out,
            "expired": result.expired,
            "contracts_ended": result.contracts_ended,
            "dispatched_systems": len(result.dispatched),
        },
    )
    return result


def _sweep_at_next_end() -> None:
    """A contract ending before the beat's next sweep gets a sweep of its own right then,
    instead of its access living up to SUNDOWN_SWEEP_SECONDS past its end. (At most four
    a second: a sweep that finds another end close behind schedules that one. The floor
    was a second, which started a mass end's sweep up to 0.9 s after the end whenever
    the beat's sweep came in the end's last second: 0.55 s in a revocation bench run.)"""
    upcoming = (
        Contract.objects.filter(
            status=Contract.Status.ACTIVE,
            access_ends_at__gt=Now(),
            access_ends_at__lte=Now() + timedelta(seconds=settings.SUNDOWN_SWEEP_SECONDS),
        )
        .order_by("access_ends_at")
        .values_list("access_ends_at", flat=True)
        .first()
    )
    if upcoming is None:
        return
    countdown = max(NEXT_END_MIN_SECONDS, (upcoming - db_now()).total_seconds() + 0.1)
    try:
        revocation_sweep_task.apply_async(countdown=countdown, expires=countdown + 60)
    except Exception:  # noqa: BLE001 - broker down: the beat's own sweep comes anyway
        logger.exception("could not schedule the sweep at the next contract end")


def _due_by_row(ids: list[int]) -> QuerySet[Credential]:
    """Those of ``ids`` that are active and all of whose contracts have ended, checked
    row by row through the link table.

    The whole-table form (``_due_credentials``) is right for finding 100,000 due rows at
    once; for a chunk of 1,000 ids the planner, with statistics from before the mass
    end, hashed every link and every ended contract to answer it. Here each row reads
    its own few links: the smallest "has ended" over its contracts is 1 only when
    there is at least one and every one has ended.
    """
    links = Contract.credentials.through.objects.filter(credential_id=OuterRef("pk"))
    ended = (
        links.values("credential_id")
        .annotate(
            all_ended=Min(
                Case(
                    When(contract__access_ends_at__lte=Now(), then=Value(1)),
                    default=Value(0),
                )
            )
        )
        # The stubs do not see annotations on an auto-created through model.
        .values("all_ended")  # type: ignore[misc]
    )
    return (
        Credential.objects.filter(in_ids("pk", ids))
        .alias(all_ended=Subquery(ended, output_field=IntegerField()))
        .filter(row_guard(Q(status=Credential.Status.ACTIVE)), all_ended=1)
    )


def _due_credentials() -> QuerySet[Credential]:
    """Active credentials all of whose authorising contracts have ended."""
    ended = Contract.objects.filter(credentials=OuterRef("pk"), access_ends_at__lte=Now())
    live = Contract.objects.filter(credentials=OuterRef("pk"), access_ends_at__gt=Now())
    return Credential.objects.filter(Exists(ended), ~Exists(live), status=Credential.Status.ACTIVE)


def _due_ids() -> list[int]:
    """Every due credential's id, in order.

    Between two sweeps a few contracts end, and the planner rightly starts from them
    with one index probe per link. When thousands end at once, the statistics (from
    before the end) still say almost none have: the same probes then took ~1 s for
    100,000 credentials against ~150 ms for hash joins. Past MASS_END_LINKS links of
    contracts not yet marked ended, this read goes without nested loops. (A planner
    setting, not an ANALYZE: the application's role owns no table in production.)
    """
    due = _due_credentials().order_by("pk").values_list("pk", flat=True)
    if connection.vendor != "postgresql":
        return list(due)
    just_ended = Contract.credentials.through.objects.filter(
        contract__status=Contract.Status.ACTIVE, contract__access_ends_at__lte=Now()
    )[:MASS_END_LINKS]
    if just_ended.count() < MASS_END_LINKS:
        return list(due)
    with (
        transaction.atomic(),
        connection.cursor() as cursor,
        planner_without(cursor, "enable_nestloop"),
    ):
        return list(due)


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


def _full_read_due() -> datetime | None:
    """The database time to stamp this sweep's read of every due credential with, or
    None when there cannot be a due credential it has not seen.

    The read joins every contract that has ever ended to its credentials: its cost
    grows with the history (~100 ms per 30,000 such credentials), and at a sweep every
    few seconds that history was most of a quiet deployment's database time, and most
    of every sweep queued behind the batches of a mass end. It runs when:

    - a contract has reached its end since the last read, was changed since (an early
      termination dates its end back), or is past its end and not yet marked ended;
    - the last read found due credentials (a chunk may have been skipped or lost with
      its worker: look again until a read finds none);
    - the last read is SUNDOWN_SWEEP_FULL_SECONDS old (a credential made due by an edit
      of the registry rather than of a contract: its last live contract unlinked, or
      registered under ended contracts only), or there was none.
    """
    now = db_now()
    found = Heartbeat.objects.filter(name=FULL_READ).values_list("detail", flat=True).first()
    last: dict = found if isinstance(found, dict) else {}
    try:
        since = datetime.fromisoformat(last["at"])
    except (KeyError, TypeError, ValueError):
        return now  # never read, or an entry this code did not write
    if last.get("due") or (now - since).total_seconds() >= settings.SUNDOWN_SWEEP_FULL_SECONDS:
        return now
    changed = Contract.objects.filter(access_ends_at__lte=now).filter(
        Q(access_ends_at__gt=since) | Q(updated_at__gt=since) | Q(status=Contract.Status.ACTIVE)
    )
    return now if changed.exists() else None


def _sweep_requests(*, actor: Actor, chunk: int, result: SweepResult, fan_out: bool) -> None:
    # One pass finds every due credential (a single hash join, however many ended at
    # once); each chunk then re-checks its rows under lock, so a contract extended
    # in between still keeps its credentials.
    at = _full_read_due()
    if at is None:
        return
    due = _due_ids()
    # Stamped with the time before the read: a contract ending after it is the next
    # sweep's to see.
    heartbeat_record(name=FULL_READ, detail={"at": at.isoformat(), "due": len(due)})
    chunks = [due[start : start + chunk] for start in range(0, len(due), chunk)]
    mine = chunks[:1] if fan_out else chunks
    for ids in chunks[len(mine) :]:
        try:
            revocation_request_due_task.delay(ids)
            result.handed_out += len(ids)
        except Exception:  # noqa: BLE001 - broker down: this sweep requests it itself
            logger.exception("could not hand out a chunk of the sweep")
            mine.append(ids)
    for ids in mine:
        result.requested += sweep_request_chunk(actor=actor, ids=ids)


def sweep_request_chunk(*, ids: list[int], actor: Actor | None = None) -> int:
    """Those of ``ids`` that are due now to pending, in one transaction with their events.

    Safe to run twice or side by side (a chunk handed out by two sweeps): rows another
    request holds are skipped, rows already pending are not due any more.
    """
    with transaction.atomic():
        moved = request_revocation(
            actor=actor or Actor.system("revocation-sweep"),
            queryset=_due_by_row(ids),
            reason="Every contract authorising this access has ended.",
            trigger="contract_ended",
            skip_locked=True,
            statuses=(Credential.Status.ACTIVE,),
        )
    return len(moved)


def _expired_credentials() -> QuerySet[Credential]:
    """Active credentials whose own ``expires_at`` has passed (by the database clock)."""
    return Credential.objects.filter(status=Credential.Status.ACTIVE, expires_at__lte=Now())


def _sweep_expired(*, actor: Actor, chunk: int, result: SweepResult) -> None:
    # A credential's own expiry is a policy of its own (time-based, issue 13): it ends
    # the access whatever its contracts say, and the request names that policy.
    due = list(_expired_credentials().order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(due), chunk):
        with transaction.atomic():
            moved = request_revocation(
                actor=actor,
                queryset=_expired_credentials().filter(in_ids("pk", due[start : start + chunk])),
                reason="The credential's own expiry date has passed.",
                trigger="expiry",
                skip_locked=True,
                statuses=(Credential.Status.ACTIVE,),
                extra={"policy": {"name": "expiry", "field": "expires_at"}},
            )
        result.expired += len(moved)


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
