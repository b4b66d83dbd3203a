"""The comparison of one reconciliation pass: the target's accounts against the
system's credentials (``compare``, reads only), cut into chunks of subjects
(``comparison_chunks``) and written chunk by chunk (``chunk_write``, each in its caller's
transaction, and ``absent_resolve`` for what the pass no longer sees).

The rules that turn a difference into a finding are in ``findings.rules``; what a use
means and how it is recorded, in ``findings.usage``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings

from access.models import Credential, System
from audit.actor import Actor
from audit.services import PendingEvent, audit_record_many
from findings.models import RUN_COUNT_FIELDS, Finding, ReconciliationRun
from findings.rules import (
    LIVE_CREDENTIAL,
    REGISTERED_FIELDS,
    REVOKED,
    Registered,
    account_patterns,
    credential_sighting,
    dormant_policy,
    dormant_sighting,
    lifecycle_sighting,
    not_found_sighting,
    orphan_sighting,
    revoked_account_sightings,
)
from findings.services import Sighting, findings_raise, findings_resolve_absent
from findings.usage import access_ended_at, account_evidence, chunks, last_used_update
from revocation.connectors.base import Account
from revocation.services.common import db_now
from revocation.services.requests import request_revocation

# The kinds a complete pass decides by itself: what it no longer sees, it resolves.
SELF_RESOLVING = ("orphan", "not_found", "decommissioned_access", "legacy_access", "dormant")

# The lists of credential ids a chunk writes (``seen_ids`` is only counted).
_WRITTEN_IDS = ("drift_ids", "refresh_ids", "absent_ids", "used_now", "dormant_ids")


@dataclass
class Comparison:
    """What one pass found (the whole pass, or one chunk of it)."""

    sightings: list[Sighting] = field(default_factory=list)
    drift_ids: list[int] = field(default_factory=list)
    seen_ids: list[int] = field(default_factory=list)
    # Of those, the ones whose last_seen_on_target_at is missing or older than the
    # refresh period (the only rows the pass rewrites).
    refresh_ids: list[int] = field(default_factory=list)
    absent_ids: list[int] = field(default_factory=list)
    used_now: list[int] = field(default_factory=list)
    logins: dict[int, dt.datetime] = field(default_factory=dict)
    # Active access nobody used within the limit, to revoke (the agency's policy says so).
    dormant_ids: list[int] = field(default_factory=list)
    # The subject (account key) of every credential above, for ``comparison_chunks``.
    keys: dict[int, str] = field(default_factory=dict)
    now: dt.datetime | None = None

    @property
    def present(self) -> set[tuple[str, str]]:
        """What the pass saw of the kinds it resolves by itself."""
        return {(s.kind, s.account) for s in self.sightings if s.kind in SELF_RESOLVING}


def compare(
    *,
    system: System,
    accounts: list[Account],
    key_of: Callable[[str], str],
    run: ReconciliationRun,
    revoked_before: set[int] | None = None,
) -> Comparison:
    """The comparison; reads the registry and writes nothing but ``run``'s counts (in
    memory: the caller saves them).

    ``revoked_before``: the credentials that were revoked before ``accounts`` was read
    (None: all of them); only those can have drifted.
    """
    now = db_now()
    stale = now - dt.timedelta(seconds=settings.SUNDOWN_RECONCILE_SEEN_REFRESH_SECONDS)
    by_key: dict[str, Account] = {}
    for account in accounts:
        by_key.setdefault(key_of(account.external_id), account)
    creds = {
        key_of(row[1]): Registered(*row)
        for row in Credential.objects.filter(system=system).values_list(*REGISTERED_FIELDS)
    }
    result = Comparison(now=now)
    patterns = account_patterns(system)
    used_creds: list[tuple[Registered, Account]] = []
    for key, account in by_key.items():
        evidence = account_evidence(account)
        cred = creds.get(key)
        lifecycle = lifecycle_sighting(system, account, cred, evidence)
        if lifecycle is not None:
            result.sightings.append(lifecycle)
        if cred is None:
            result.sightings.append(orphan_sighting(account, patterns, evidence))
            continue
        result.keys[cred.pk] = key
        result.seen_ids.append(cred.pk)
        if cred.last_seen_on_target_at is None or cred.last_seen_on_target_at < stale:
            result.refresh_ids.append(cred.pk)
        if account.sessions > 0:
            result.used_now.append(cred.pk)
        if account.last_login_at and (
            cred.last_used_at is None or account.last_login_at > cred.last_used_at
        ):
            result.logins[cred.pk] = account.last_login_at
        if account.sessions > 0 or cred.pk in result.logins:
            used_creds.append((cred, account))
        settled = revoked_before is None or cred.pk in revoked_before
        drifted, sightings = revoked_account_sightings(cred, account, evidence, settled=settled)
        if drifted:
            result.drift_ids.append(cred.pk)
        result.sightings.extend(sightings)
    for key, cred in creds.items():
        if key not in by_key and cred.status in LIVE_CREDENTIAL:
            result.keys[cred.pk] = key
            result.absent_ids.append(cred.pk)
            result.sightings.append(not_found_sighting(cred))
    _used_after_contract_end(used_creds, now, result)
    result.dormant_ids = _dormant(system, creds, by_key, now, result)
    _count(run, by_key, result)
    return result


def comparison_chunks(
    result: Comparison, *, key_of: Callable[[str], str], size: int
) -> list[Comparison]:
    """``result`` cut into chunks of at most ``size`` subjects, in the pass's order.

    A subject is one account key (an account on the target, or a credential it does not
    show): every sighting and every credential write about it lands in the same chunk,
    so a drift finding and the drift's revocation request commit together. Subjects
    with nothing to write (a known account seen again) are in no chunk.
    """
    order: dict[str, int] = {}
    parts: defaultdict[int, Comparison] = defaultdict(lambda: Comparison(now=result.now))

    def part(key: str) -> Comparison:
        return parts[order.setdefault(key, len(order)) // size]

    for sighting in result.sightings:
        part(key_of(sighting.account)).sightings.append(sighting)
    for name in _WRITTEN_IDS:
        for pk in getattr(result, name):
            getattr(part(result.keys[pk]), name).append(pk)
    for pk, at in result.logins.items():
        part(result.keys[pk]).logins[pk] = at
    return [parts[number] for number in sorted(parts)]


def _used_after_contract_end(
    used_creds: list[tuple[Registered, Account]], now: dt.datetime, result: Comparison
) -> None:
    """Unrevoked credentials whose every contract has ended, with a live session now or
    a login the target recorded at or after that end (one Sundown had not recorded yet:
    a login already in ``last_used_at`` was judged by an earlier pass)."""
    candidates = {cred.pk: (cred, account) for cred, account in used_creds}
    candidates = {pk: pair for pk, pair in candidates.items() if pair[0].status not in REVOKED}
    for pk, last_end in access_ended_at(candidates).items():
        if last_end > now:
            continue
        cred, account = candidates[pk]
        login = result.logins.get(pk)
        logged_in_since = login is not None and login >= last_end
        if account.sessions == 0 and not logged_in_since:
            continue
        what = f"{account.sessions} live session(s)" if account.sessions else "A login"
        if account.sessions and logged_in_since:
            what += " and a login"
        result.sightings.append(
            credential_sighting(
                "used_after_contract_end",
                cred,
                f"{what}; every contract ended {last_end:%Y-%m-%d %H:%M} UTC.",
                {**account_evidence(account), "access_ended_at": last_end.isoformat()},
            )
        )


def _dormant(
    system: System, creds: dict[str, Registered], by_key: dict, now, result: Comparison
) -> list[int]:
    """Dormant sightings; returns the ids to revoke when the agency's policy says so."""
    days, revoke_dormant = dormant_policy(system)
    used_now = set(result.used_now)
    revoke = []
    for key, cred in creds.items():
        if cred.status != Credential.Status.ACTIVE or key not in by_key or cred.pk in used_now:
            continue
        sighting = dormant_sighting(
            cred, result.logins.get(cred.pk) or cred.last_used_at, now, days
        )
        if sighting is None:
            continue
        result.sightings.append(sighting)
        if revoke_dormant:
            revoke.append(cred.pk)
    return revoke


def chunk_write(*, system: System, actor: Actor, run: ReconciliationRun, chunk: Comparison) -> int:
    """One chunk's writes, in the caller's transaction: when the target showed what, who
    used what, revocations, findings and their audit events. Returns the findings opened.

    The audit events go last (``findings_raise`` hands its events back; the revocation
    requests append theirs as they go, so they come after every other write too): an
    append holds the chain head until commit, and every other writer in the product
    waits for it.
    """
    now = chunk.now
    assert now is not None
    # Refreshed when missing or older than the refresh period: the engine needs to
    # know that the target has shown an account, not that it did so this very hour,
    # and rewriting 100,000 rows every pass would be most of the pass's cost.
    # (Chosen by compare from the row it read: a steady pass sends no UPDATE at all.)
    for ids in chunks(chunk.refresh_ids):
        Credential.objects.filter(pk__in=ids).update(
            last_seen_on_target_at=now, target_checked_at=now
        )
    for ids in chunks(chunk.absent_ids):
        Credential.objects.filter(pk__in=ids).update(target_checked_at=now)
    last_used_update(used_now=chunk.used_now, now=now, logins=chunk.logins)
    events: list[PendingEvent] = []
    raised = findings_raise(actor=actor, system=system, sightings=chunk.sightings, audit=events)
    run.findings_opened += len(raised.opened)
    run.save(update_fields=RUN_COUNT_FIELDS)
    if chunk.drift_ids:
        request_revocation(
            actor=actor,
            queryset=Credential.objects.filter(pk__in=chunk.drift_ids),
            reason="Drift: the target shows this revoked access active again.",
            trigger="drift",
            statuses=REVOKED,
            extra={"run": run.pk},
        )
    if chunk.dormant_ids:
        request_revocation(
            actor=actor,
            queryset=Credential.objects.filter(pk__in=chunk.dormant_ids),
            reason="Dormant: not used within the agency's limit.",
            trigger="dormant",
            extra={"run": run.pk, "policy": {"name": "dormant", "days": dormant_policy(system)[0]}},
        )
    audit_record_many(actor=actor, events=events)
    return len(raised.opened)


ABSENT_REASON = "Reconciliation no longer sees it on the target."


def absent_findings(*, system: System, present: set[tuple[str, str]]) -> list[int]:
    """The live findings of the kinds a complete pass resolves that it did not see
    (read once, after the pass's findings are written; ``absent_resolve`` re-checks
    each under its row lock)."""
    return [
        pk
        for pk, kind, account in Finding.objects.filter(
            system=system, kind__in=SELF_RESOLVING, status__in=Finding.LIVE
        )
        .order_by("pk")
        .values_list("pk", "kind", "account")
        if (kind, account) not in present
    ]


def absent_resolve(
    *,
    system: System,
    actor: Actor,
    run: ReconciliationRun,
    present: set[tuple[str, str]],
    among: list[int],
) -> int:
    """Resolve the findings ``among`` that are still live and unseen (a chunk of
    ``absent_findings``), in the caller's transaction, audit last. Returns how many."""
    events: list[PendingEvent] = []
    resolved = findings_resolve_absent(
        actor=actor,
        system=system,
        kinds=SELF_RESOLVING,
        present=present,
        reason=ABSENT_REASON,
        among=among,
        audit=events,
    )
    run.findings_resolved += len(resolved)
    run.save(update_fields=RUN_COUNT_FIELDS)
    audit_record_many(actor=actor, events=events)
    return len(resolved)


def _count(run: ReconciliationRun, by_key: dict[str, Account], result: Comparison) -> None:
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
