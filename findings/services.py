"""Writes of findings: raise (an upsert per subject and kind) and triage.

Every opening and every triage step writes its audit event in the same transaction.
Seeing a live finding again only moves ``last_seen_at`` and ``times_seen``: a
reconciliation every hour must not grow the trail by one event per known orphan.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Now
from django.template.loader import render_to_string

from access.models import Credential, System
from audit.actor import Actor
from audit.services import PendingEvent, audit_record, audit_record_many
from config.modeling import free_text
from config.text import one_line
from findings.kinds import FINDING_KINDS, Severity, kind_of
from findings.models import Finding
from findings.usage import chunk_size
from revocation.services.common import db_now
from vendors.models import Contract, Vendor

logger = logging.getLogger(__name__)

# Large enough for one round trip per few thousand rows, small enough for SQLite's
# limit on bound parameters.
_CHUNK = 900


@dataclass(frozen=True)
class Sighting:
    """One thing seen on a system that may be (or already is) a finding."""

    kind: str
    account: str = ""
    vendor_id: int | None = None
    credential_id: int | None = None
    severity: str | None = None  # default: the kind's
    summary: str = ""
    evidence: dict = field(default_factory=dict)


@dataclass
class RaiseResult:
    """What ``findings_raise`` did: findings opened, live ones seen again, and sightings
    a person's earlier "false positive" covers."""

    opened: list[Finding] = field(default_factory=list)
    seen_again: list[int] = field(default_factory=list)
    suppressed: list[int] = field(default_factory=list)


def finding_target(finding: Finding) -> tuple[str, int, str]:
    return ("findings.finding", finding.pk, str(finding)[:300])


def _chunks(items: list, size: int = _CHUNK):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def findings_raise(
    *,
    actor: Actor,
    system: System,
    sightings: Iterable[Sighting],
    audit: list[PendingEvent] | None = None,
) -> RaiseResult:
    """Open a finding per new (kind, account) on ``system``; refresh the live ones.

    Built for a chunk of a reconciliation pass: a few queries whatever the number of
    sightings, reading only the findings of the sightings' accounts. The system's row
    is locked for the transaction, so two writers on the same system (a pass's chunk,
    a usage batch) take turns and the second sees the first's findings; the partial
    unique index is the last word if anything else races. Newly opened critical
    findings are mailed to security staff after commit.

    ``audit``: the ``finding.opened`` events are added to it instead of appended, for a
    caller that appends them itself, last in the same transaction (an append holds the
    chain head until commit).
    """
    wanted: dict[tuple[str, str], Sighting] = {}
    for sighting in sightings:
        kind_of(sighting.kind)  # KeyError for a kind nobody registered: a bug
        if sighting.severity is not None and sighting.severity not in Severity.RANK:
            raise ValueError(f"unknown severity {sighting.severity!r}")
        wanted[(sighting.kind, sighting.account)] = sighting
    result = RaiseResult()
    if not wanted:
        return result
    if audit is not None and not connection.in_atomic_block:
        raise RuntimeError("deferred audit events need the caller's transaction")
    kinds = sorted({kind for kind, _ in wanted})
    accounts = sorted({account for _, account in wanted})
    quiet_kinds = [k for k in kinds if FINDING_KINDS[k].suppressible]
    with transaction.atomic():
        System.objects.select_for_update(no_key=True).filter(pk=system.pk).exists()
        live: dict[tuple[str, str], int] = {}
        quieted: dict[tuple[str, str], int] = {}
        # By account (the live unique index's columns): a chunk of a pass over a
        # system with 100,000 live findings reads its own few, not all of them.
        for names in _chunks(accounts, chunk_size()):
            for pk, kind, account in Finding.objects.filter(
                system=system, kind__in=kinds, account__in=names, status__in=Finding.LIVE
            ).values_list("pk", "kind", "account"):
                live[(kind, account)] = pk
            if quiet_kinds:
                for pk, kind, account in (
                    Finding.objects.filter(
                        system=system,
                        kind__in=quiet_kinds,
                        account__in=names,
                        status=Finding.Status.FALSE_POSITIVE,
                    )
                    .order_by("pk")
                    .values_list("pk", "kind", "account")
                ):
                    quieted[(kind, account)] = pk
        new: list[Sighting] = []
        for key, sighting in wanted.items():
            if key in live:
                result.seen_again.append(live[key])
            elif key in quieted:
                result.suppressed.append(quieted[key])
            else:
                new.append(sighting)
        for ids in _chunks(result.seen_again + result.suppressed):
            Finding.objects.filter(pk__in=ids).update(
                last_seen_at=Now(), times_seen=F("times_seen") + 1, updated_at=Now()
            )
        if new:
            now = db_now()
            rows = [
                Finding(
                    kind=s.kind,
                    severity=s.severity or FINDING_KINDS[s.kind].severity,
                    system_id=system.pk,
                    account=s.account[:500],
                    vendor_id=s.vendor_id,
                    credential_id=s.credential_id,
                    summary=one_line(s.summary, limit=500),
                    evidence=s.evidence,
                    first_seen_at=now,
                    last_seen_at=now,
                )
                for s in new
            ]
            result.opened = Finding.objects.bulk_create(rows, batch_size=_CHUNK)
            events = [
                PendingEvent(
                    action="finding.opened",
                    target=finding_target(f),
                    agency_id=system.agency_id,
                    after={
                        "kind": f.kind,
                        "severity": f.severity,
                        "system": system.pk,
                        "account": f.account,
                        "vendor": f.vendor_id,
                        "credential": f.credential_id,
                        "summary": f.summary,
                        "evidence": f.evidence,
                    },
                )
                for f in result.opened
            ]
            if audit is None:
                audit_record_many(actor=actor, events=events)
            else:
                audit.extend(events)
            critical = [f for f in result.opened if f.severity == Severity.CRITICAL]
            if critical:
                transaction.on_commit(lambda: alert_critical(system, critical))
    return result


def finding_raise(
    *, actor: Actor, system: System, kind: str, account: str = "", **fields
) -> tuple[Finding, bool]:
    """One sighting: the live finding (new or seen again) and whether it was opened.

    A sighting that a false positive covers returns that (closed) finding.
    """
    result = findings_raise(
        actor=actor, system=system, sightings=[Sighting(kind=kind, account=account, **fields)]
    )
    if result.opened:
        return result.opened[0], True
    pk = (result.seen_again or result.suppressed)[0]
    return Finding.objects.get(pk=pk), False


def findings_resolve_absent(
    *,
    actor: Actor,
    system: System,
    kinds: Iterable[str],
    present: set[tuple[str, str]],
    reason: str,
    among: Iterable[int] | None = None,
    audit: list[PendingEvent] | None = None,
) -> list[int]:
    """Resolve the live findings of ``kinds`` on ``system`` whose (kind, account) a
    complete pass did not see again: the orphan was removed or registered, say.

    Used by reconciliation only after a full read of the target; audited per finding.
    ``among``: only these findings (one chunk of a pass's). ``audit``: as for
    ``findings_raise``, the events are added to it for the caller to append.
    """
    if audit is not None and not connection.in_atomic_block:
        raise RuntimeError("deferred audit events need the caller's transaction")
    kinds = list(kinds)
    candidates = Finding.objects.select_for_update().filter(
        system=system, kind__in=kinds, status__in=Finding.LIVE
    )
    if among is not None:
        candidates = candidates.filter(pk__in=list(among))
    with transaction.atomic():
        rows = [
            (pk, kind, account)
            for pk, kind, account in candidates.values_list("pk", "kind", "account")
            if (kind, account) not in present
        ]
        if not rows:
            return []
        ids = [pk for pk, _, _ in rows]
        for chunk in _chunks(ids):
            Finding.objects.filter(pk__in=chunk).update(
                status=Finding.Status.RESOLVED,
                status_changed_at=Now(),
                status_changed_by=actor.name[:200],
                status_reason=reason,
                updated_at=Now(),
            )
        labels = {
            pk: f"{FINDING_KINDS[kind].label} {account}".strip() for pk, kind, account in rows
        }
        events = [
            PendingEvent(
                action="finding.resolved",
                target=("findings.finding", pk, labels[pk][:300]),
                agency_id=system.agency_id,
                before={"status": "open"},
                after={"status": "resolved", "reason": reason, "automatic": True},
            )
            for pk in ids
        ]
        if audit is None:
            audit_record_many(actor=actor, events=events)
        else:
            audit.extend(events)
    return ids


# Triage ---------------------------------------------------------------------------

_TRANSITIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    Finding.Status.ACKNOWLEDGED: ("finding.acknowledged", (Finding.Status.OPEN,)),
    Finding.Status.RESOLVED: ("finding.resolved", Finding.LIVE),
    Finding.Status.FALSE_POSITIVE: ("finding.false_positive", Finding.LIVE),
}


def _triage(*, actor: Actor, finding: Finding, to: str, reason: str) -> Finding:
    reason = free_text("reason", reason, required="Say why (it is kept in the audit trail).")
    action, allowed = _TRANSITIONS[to]
    with transaction.atomic():
        current = Finding.objects.select_for_update().get(pk=finding.pk)
        if current.status == to:
            return current  # already there: nothing to record
        if current.status not in allowed:
            # Not a field's fault: the finding's state (a non-field error, like every verb's).
            raise ValidationError(
                f"A finding that is {current.get_status_display().lower()} "
                f"cannot become {Finding.Status(to).label.lower()}."
            )
        before = current.status
        current.status = to
        current.status_reason = reason
        current.status_changed_by = actor.name[:200]
        current.status_changed_at = db_now()
        current.save(
            update_fields=[
                "status",
                "status_reason",
                "status_changed_by",
                "status_changed_at",
                "updated_at",
            ]
        )
        audit_record(
            actor=actor,
            action=action,
            target=current,
            agency_id=current.system.agency_id,
            before={"status": before},
            after={"status": to, "reason": reason},
        )
    return current


def finding_acknowledge(*, actor: Actor, finding: Finding, reason: str) -> Finding:
    """Someone is on it: the finding stays live (and keeps being seen) but is claimed."""
    return _triage(actor=actor, finding=finding, to=Finding.Status.ACKNOWLEDGED, reason=reason)


def finding_resolve(*, actor: Actor, finding: Finding, reason: str) -> Finding:
    """Dealt with. Seen again later, it opens a new finding."""
    return _triage(actor=actor, finding=finding, to=Finding.Status.RESOLVED, reason=reason)


def finding_mark_false_positive(*, actor: Actor, finding: Finding, reason: str) -> Finding:
    """Not a problem. For suppressible kinds, later sightings of the subject stay quiet."""
    return _triage(actor=actor, finding=finding, to=Finding.Status.FALSE_POSITIVE, reason=reason)


# Adoption ---------------------------------------------------------------------

ADOPTABLE = ("orphan",)

# What a credential adopted from an account of a system's kind is, by default.
CREDENTIAL_KIND_FOR_SYSTEM = {
    "postgres": Credential.Kind.DATABASE_ROLE,
    "mariadb": Credential.Kind.DATABASE_ROLE,
    "redis": Credential.Kind.CACHE_USER,
    "ldap": Credential.Kind.DIRECTORY_ACCOUNT,
    "ad": Credential.Kind.DIRECTORY_ACCOUNT,
    "scim": Credential.Kind.SAAS_ACCOUNT,
    "ssh": Credential.Kind.SSH_KEY,
}


def finding_adopt(
    *,
    actor: Actor,
    finding: Finding,
    vendor: Vendor,
    contracts: list[Contract],
    kind: str = "",
    holder: str = "",
    privileges: str = "",
    reason: str = "",
) -> Credential:
    """Register an orphan account as a vendor's credential under ``contracts`` and
    resolve the finding: from then on the account is governed like any other (its
    contracts' end revokes it). One transaction; the registration audits itself."""
    from access.services import credential_register

    with transaction.atomic():
        current = Finding.objects.select_for_update().select_related("system").get(pk=finding.pk)
        if current.kind not in ADOPTABLE:
            raise ValidationError("Only an orphan account can be adopted.")
        if not current.is_live:
            raise ValidationError("The finding is closed; nothing to adopt.")
        system = current.system
        credential = credential_register(
            actor=actor,
            vendor=vendor,
            system=system,
            contracts=list(contracts),
            kind=kind or CREDENTIAL_KIND_FOR_SYSTEM.get(system.kind, Credential.Kind.OTHER),
            external_id=current.account,
            holder=holder,
            privileges=privileges,
        )
        before = current.status
        current.status = Finding.Status.RESOLVED
        current.credential = credential
        current.vendor = vendor
        current.status_reason = (
            reason.strip() if isinstance(reason, str) and reason.strip() else "Adopted"
        )
        current.status_reason = f"{current.status_reason} (credential {credential.pk})"
        current.status_changed_by = actor.name[:200]
        current.status_changed_at = db_now()
        current.save()
        audit_record(
            actor=actor,
            action="finding.adopted",
            target=current,
            agency_id=system.agency_id,
            before={"status": before},
            after={
                "status": current.status,
                "credential": credential.pk,
                "vendor": vendor.pk,
                "contracts": sorted(c.pk for c in contracts),
                "reason": current.status_reason,
            },
        )
    return credential


# Alerts -----------------------------------------------------------------------


def alert_critical(system: System, findings: list[Finding]) -> None:
    """Mail security staff about newly opened critical findings; never raises (the
    findings and their audit rows exist; a mail outage is logged)."""
    from revocation.services.alerts import security_alert_recipients

    try:
        recipients = security_alert_recipients(system)
        if not recipients:
            logger.error("critical findings on %s but nobody is configured to be alerted", system)
            return
        kinds = sorted({f.kind_label for f in findings})
        send_mail(
            subject=one_line(
                f"[Sundown] CRITICAL on {system.name}: {len(findings)} finding(s): "
                + ", ".join(kinds),
                limit=200,
            ),
            message=render_to_string(
                "findings/mail/critical_findings.txt", {"system": system, "findings": findings}
            ),
            from_email=None,
            recipient_list=recipients,
        )
    except Exception:
        logger.exception("could not send the critical findings alert for %s", system)


# Policy -----------------------------------------------------------------------


def finding_policy_set(
    *,
    actor: Actor,
    agency,
    dormant_days: int | None = None,
    dormant_revoke: bool | None = None,
    max_age_days: dict[str, int] | None = None,
    max_age_revoke: bool | None = None,
):
    """Change an agency's findings policy (audited; unchanged values record nothing).

    ``max_age_days`` replaces the whole table (credential kind -> days; an empty one
    means no maximum age).
    """
    from findings.models import FindingPolicy

    fields = ("dormant_days", "dormant_revoke", "max_age_days", "max_age_revoke")
    with transaction.atomic():
        policy, _ = FindingPolicy.objects.select_for_update().get_or_create(agency=agency)
        before = {name: getattr(policy, name) for name in fields}
        if dormant_days is not None:
            if not isinstance(dormant_days, int) or dormant_days < 1:
                raise ValidationError({"dormant_days": "A whole number of days, at least 1."})
            policy.dormant_days = dormant_days
        if dormant_revoke is not None:
            policy.dormant_revoke = bool(dormant_revoke)
        if max_age_days is not None:
            policy.max_age_days = _max_age_table(max_age_days)
        if max_age_revoke is not None:
            policy.max_age_revoke = bool(max_age_revoke)
        after = {name: getattr(policy, name) for name in fields}
        if before == after:
            return policy
        policy.save()
        audit_record(
            actor=actor,
            action="agency.finding_policy_changed",
            target=agency,
            agency_id=agency.pk,
            before=before,
            after=after,
        )
    return policy


def _max_age_table(value) -> dict[str, int]:
    if not isinstance(value, dict):
        raise ValidationError({"max_age_days": "A table of credential kind to days."})
    table: dict[str, int] = {}
    for kind, days in value.items():
        if kind not in Credential.Kind.values:
            raise ValidationError({"max_age_days": f"{kind!r} is not a credential kind."})
        if not isinstance(days, int) or isinstance(days, bool) or days < 1:
            raise ValidationError({"max_age_days": "A whole number of days, at least 1."})
        table[kind] = days
    return table
