"""Reconciliation: read every account on a target and compare it with the registry.

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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Q
from django.db.models.functions import Now

from access.models import Credential, System
from audit.actor import Actor
from audit.services import audit_record
from findings.models import AccountPattern, FindingPolicy, ReconciliationRun
from findings.services import Sighting, findings_raise, findings_resolve_absent
from revocation.connectors.base import Account, ConnectorError, connector_for
from revocation.services.common import db_now, worker_identity
from revocation.services.requests import request_revocation

logger = logging.getLogger(__name__)

RECONCILER = "reconciler"
REVOKED = (Credential.Status.REVOKED, Credential.Status.CONFIRMED)
LIVE_CREDENTIAL = (Credential.Status.ACTIVE, Credential.Status.FAILED)
# The kinds a complete pass decides by itself: what it no longer sees, it resolves.
SELF_RESOLVING = ("orphan", "not_found", "decommissioned_access", "dormant")
# Kinds whose connectors cannot list a target.
UNLISTABLE = ("manual", "webhook")


def reconciler_actor() -> Actor:
    return Actor.system(RECONCILER)


def _chunk_size() -> int:
    # SQLite limits bound parameters; psycopg2 interpolates on the client.
    return 900 if connection.vendor == "sqlite" else 50_000


def _chunks(items: list, size: int | None = None):
    size = size or _chunk_size()
    for i in range(0, len(items), size):
        yield items[i : i + size]


# Runs -------------------------------------------------------------------------


def reconciliation_request(
    *, actor: Actor, system: System, trigger: str, enqueue: bool = True
) -> tuple[ReconciliationRun, bool]:
    """Queue a pass over ``system`` (audited) unless one is already queued or running.

    Returns the run and whether it is new. With ``enqueue`` the task is sent on commit;
    the command runs the pass itself instead.
    """
    with transaction.atomic():
        System.objects.select_for_update().filter(pk=system.pk).exists()
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
        System.objects.select_for_update().filter(pk=system.pk).exists()
        run.refresh_from_db(fields=["status"])
        if run.status != ReconciliationRun.Status.RUNNING:
            return run  # abandoned meanwhile and redone by another pass
        compare(system=system, accounts=accounts, key_of=key_of, actor=actor, run=run)
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


# The comparison ---------------------------------------------------------------


@dataclass
class _Cred:
    pk: int
    external_id: str
    status: str
    vendor_id: int
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None
    created_at: dt.datetime
    issued_at: dt.datetime | None


@dataclass
class Comparison:
    """What one pass found (also what the bench prints)."""

    sightings: list[Sighting] = field(default_factory=list)
    drift_ids: list[int] = field(default_factory=list)
    seen_ids: list[int] = field(default_factory=list)
    absent_ids: list[int] = field(default_factory=list)
    used_now: list[int] = field(default_factory=list)
    logins: dict[int, dt.datetime] = field(default_factory=dict)


def _patterns(system: System) -> list[tuple[int, str, str]]:
    return [
        (vendor_id, kind, value.casefold().strip())
        for vendor_id, kind, value in AccountPattern.objects.filter(
            vendor__agency_id=system.agency_id
        ).values_list("vendor_id", "kind", "value")
    ]


def _dn_key(value: str) -> str:
    return ",".join(part.strip() for part in value.casefold().split(","))


def attribute(account: Account, patterns: list[tuple[int, str, str]]) -> tuple[int | None, list]:
    """The vendor whose patterns match ``account`` (None when none or several do)."""
    if not patterns:
        return None, []
    name = account.external_id.casefold()
    email = (account.email or "").casefold()
    dn = _dn_key(account.external_id)
    groups = {_dn_key(g) for g in account.groups}
    matched: dict[int, list[str]] = {}
    for vendor_id, kind, value in patterns:
        hit = (
            (kind == AccountPattern.Kind.PREFIX and name.startswith(value))
            or (kind == AccountPattern.Kind.EMAIL_DOMAIN and email.endswith("@" + value))
            or (kind == AccountPattern.Kind.DN_SUFFIX and dn.endswith("," + _dn_key(value)))
            or (kind == AccountPattern.Kind.GROUP and _dn_key(value) in groups)
        )
        if hit:
            matched.setdefault(vendor_id, []).append(f"{kind}:{value}")
    if len(matched) == 1:
        ((vendor_id, why),) = matched.items()
        return vendor_id, why
    return None, sorted(f"vendor {v}: {', '.join(w)}" for v, w in matched.items())


def compare(
    *,
    system: System,
    accounts: list[Account],
    key_of: Callable[[str], str],
    actor: Actor,
    run: ReconciliationRun,
) -> Comparison:
    """The comparison and its writes; runs inside the caller's transaction."""
    now = db_now()
    by_key: dict[str, Account] = {}
    for account in accounts:
        by_key.setdefault(key_of(account.external_id), account)
    creds = {
        key_of(row[1]): _Cred(*row)
        for row in Credential.objects.filter(system=system).values_list(
            "pk",
            "external_id",
            "status",
            "vendor_id",
            "last_used_at",
            "revoked_at",
            "created_at",
            "issued_at",
        )
    }
    result = Comparison()
    decommissioned = system.lifecycle == System.Lifecycle.DECOMMISSIONED
    patterns = _patterns(system)
    session_creds: list[tuple[_Cred, Account]] = []
    for key, account in by_key.items():
        live = account.active or account.sessions > 0
        evidence = _evidence(account)
        cred = creds.get(key)
        if decommissioned and live:
            result.sightings.append(
                Sighting(
                    kind="decommissioned_access",
                    account=account.external_id,
                    vendor_id=cred.vendor_id if cred else None,
                    credential_id=cred.pk if cred else None,
                    summary="An account that can log in on a decommissioned system.",
                    evidence=evidence,
                )
            )
        if cred is None:
            vendor_id, why = attribute(account, patterns)
            if why:
                evidence = {**evidence, "attributed_by" if vendor_id else "ambiguous": why}
            result.sightings.append(
                Sighting(
                    kind="orphan",
                    account=account.external_id,
                    vendor_id=vendor_id,
                    summary="On the target, in no credential"
                    + ("" if account.active else " (cannot log in)")
                    + ".",
                    evidence=evidence,
                )
            )
            continue
        result.seen_ids.append(cred.pk)
        if account.sessions > 0:
            result.used_now.append(cred.pk)
            session_creds.append((cred, account))
        if account.last_login_at and (
            cred.last_used_at is None or account.last_login_at > cred.last_used_at
        ):
            result.logins[cred.pk] = account.last_login_at
        if cred.status in REVOKED and live:
            result.drift_ids.append(cred.pk)
            result.sightings.append(
                Sighting(
                    kind="drift",
                    account=cred.external_id,
                    vendor_id=cred.vendor_id,
                    credential_id=cred.pk,
                    summary="Revoked access is active on the target again; revoking it again.",
                    evidence=evidence,
                )
            )
        logged_in_since = bool(
            account.last_login_at and cred.revoked_at and account.last_login_at > cred.revoked_at
        )
        if cred.status in REVOKED and (account.sessions > 0 or logged_in_since):
            result.sightings.append(
                Sighting(
                    kind="used_after_revocation",
                    account=cred.external_id,
                    vendor_id=cred.vendor_id,
                    credential_id=cred.pk,
                    summary=f"{account.sessions} live session(s)"
                    + (" and a login" if logged_in_since else "")
                    + " after revocation.",
                    evidence=evidence,
                )
            )
    for key, cred in creds.items():
        if key not in by_key and cred.status in LIVE_CREDENTIAL:
            result.absent_ids.append(cred.pk)
            result.sightings.append(
                Sighting(
                    kind="not_found",
                    account=cred.external_id,
                    vendor_id=cred.vendor_id,
                    credential_id=cred.pk,
                    summary="A registered credential the target does not show.",
                )
            )
    _used_after_contract_end(session_creds, now, result)
    dormant_ids = _dormant(system, creds, by_key, now, result)

    # Writes: when the target showed what, and who used what.
    # Refreshed when missing or older than the refresh period: the engine needs to
    # know that the target has shown an account, not that it did so this very hour,
    # and rewriting 100,000 rows every pass would be most of the pass's cost.
    stale = now - dt.timedelta(seconds=settings.SUNDOWN_RECONCILE_SEEN_REFRESH_SECONDS)
    for ids in _chunks(result.seen_ids):
        Credential.objects.filter(pk__in=ids).filter(
            Q(last_seen_on_target_at__isnull=True) | Q(last_seen_on_target_at__lt=stale)
        ).update(last_seen_on_target_at=now, target_checked_at=now)
    for ids in _chunks(result.absent_ids):
        Credential.objects.filter(pk__in=ids).update(target_checked_at=now)
    for ids in _chunks(result.used_now):
        Credential.objects.filter(pk__in=ids).update(last_used_at=now)
    if result.logins:
        later = [
            Credential(pk=pk, last_used_at=at)
            for pk, at in result.logins.items()
            if pk not in set(result.used_now)
        ]
        Credential.objects.bulk_update(later, ["last_used_at"], batch_size=500)
    if result.drift_ids:
        request_revocation(
            actor=actor,
            queryset=Credential.objects.filter(pk__in=result.drift_ids),
            reason="Drift: the target shows this revoked access active again.",
            trigger="drift",
            statuses=REVOKED,
            extra={"run": run.pk},
        )
    if dormant_ids:
        request_revocation(
            actor=actor,
            queryset=Credential.objects.filter(pk__in=dormant_ids),
            reason="Dormant: not used within the agency's limit.",
            trigger="dormant",
            extra={"run": run.pk},
        )
    raised = findings_raise(actor=actor, system=system, sightings=result.sightings)
    present = {(s.kind, s.account) for s in result.sightings if s.kind in SELF_RESOLVING}
    resolved = findings_resolve_absent(
        actor=actor,
        system=system,
        kinds=SELF_RESOLVING,
        present=present,
        reason="Reconciliation no longer sees it on the target.",
    )
    kinds = [s.kind for s in result.sightings]
    run.accounts = len(by_key)
    run.active_accounts = sum(1 for a in by_key.values() if a.active)
    run.sessions = sum(a.sessions for a in by_key.values())
    run.matched = len(result.seen_ids)
    run.orphans = kinds.count("orphan")
    run.drifted = len(result.drift_ids)
    run.not_found = len(result.absent_ids)
    run.used_after_end = kinds.count("used_after_contract_end") + kinds.count(
        "used_after_revocation"
    )
    run.findings_opened = len(raised.opened)
    run.findings_resolved = len(resolved)
    return result


def _used_after_contract_end(session_creds, now, result: Comparison) -> None:
    """Sessions of live credentials whose every contract has ended."""
    candidates = {cred.pk: (cred, account) for cred, account in session_creds}
    candidates = {pk: pair for pk, pair in candidates.items() if pair[0].status not in REVOKED}
    if not candidates:
        return
    link = Credential.contracts.through
    # Any: the plugin cannot see the annotation the filter below uses.
    latest: Any = (
        link.objects.filter(credential_id__in=list(candidates))
        .values("credential_id")
        .annotate(last_end=Max("contract__access_ends_at"))
    )
    ended = latest.filter(last_end__lte=now).values_list("credential_id", "last_end")
    for pk, last_end in ended:
        cred, account = candidates[pk]
        result.sightings.append(
            Sighting(
                kind="used_after_contract_end",
                account=cred.external_id,
                vendor_id=cred.vendor_id,
                credential_id=cred.pk,
                summary=f"{account.sessions} live session(s); every contract ended "
                f"{last_end:%Y-%m-%d %H:%M} UTC.",
                evidence={**_evidence(account), "access_ended_at": last_end.isoformat()},
            )
        )


def _dormant(system, creds: dict, by_key: dict, now, result: Comparison) -> list[int]:
    """Active credentials the target shows that nobody used within the agency's limit.

    Never used counts from when the access was issued (or registered). Returns the ids
    to revoke when the agency's policy says so.
    """
    policy = FindingPolicy.objects.filter(agency_id=system.agency_id).first()
    days = policy.dormant_days if policy else settings.SUNDOWN_DORMANT_DAYS
    limit = now - dt.timedelta(days=days)
    used_now = set(result.used_now)
    revoke = []
    for key, cred in creds.items():
        if cred.status != Credential.Status.ACTIVE or key not in by_key or cred.pk in used_now:
            continue
        last = result.logins.get(cred.pk) or cred.last_used_at
        since = last or cred.issued_at or cred.created_at
        if since > limit:
            continue
        result.sightings.append(
            Sighting(
                kind="dormant",
                account=cred.external_id,
                vendor_id=cred.vendor_id,
                credential_id=cred.pk,
                summary=f"Not used for {(now - since).days} days (limit {days})."
                if last
                else f"Never used in the {(now - since).days} days since it was issued.",
                evidence={
                    "last_used_at": last.isoformat() if last else None,
                    "limit_days": days,
                },
            )
        )
        if policy and policy.dormant_revoke:
            revoke.append(cred.pk)
    return revoke


def _evidence(account: Account) -> dict:
    evidence: dict = {"active": account.active}
    if account.detail:
        evidence["detail"] = account.detail[:500]
    if account.sessions:
        evidence["sessions"] = account.sessions
    if account.sources:
        evidence["sources"] = sorted(account.sources)[:20]
    if account.last_login_at:
        evidence["last_login_at"] = account.last_login_at.isoformat()
    if account.email:
        evidence["email"] = account.email
    return evidence


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
