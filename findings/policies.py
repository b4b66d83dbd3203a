"""Time-based policies that need no target: the agency's maximum age per credential kind.

(A credential's own ``expires_at`` is swept with contract ends, every few seconds, in
``revocation.services.sweep``; dormancy needs the target's usage evidence and is
decided by reconciliation, ``findings.reconciliation``.)

Maximum age: active access of a kind the agency's ``FindingPolicy.max_age_days`` names
(default ``SUNDOWN_MAX_AGE_DAYS``), issued (or, when nobody recorded that, registered)
longer ago than its limit, is a ``max_age`` finding; with ``max_age_revoke`` it is also
revoked through the engine (trigger ``max_age``), and the request names the policy
(kind and days). Findings of access that is no longer over age (revoked, re-issued)
are resolved. One pass per agency, in one transaction; a few queries per system.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce

from access.models import Credential, System
from audit.actor import Actor
from findings.models import Finding, FindingPolicy
from findings.services import Sighting, findings_raise, findings_resolve_absent
from revocation.services.common import db_now
from revocation.services.requests import request_revocation


@dataclass
class PolicyResult:
    """What one pass of the time-based policies did."""

    over_age: int = 0
    findings_opened: int = 0
    findings_resolved: int = 0
    revoked: list[int] = field(default_factory=list)


def max_age_limits(policy: FindingPolicy | None) -> dict[str, int]:
    """Credential kind -> days, from the agency's policy or the deployment's default."""
    limits = policy.max_age_days if policy is not None else settings.SUNDOWN_MAX_AGE_DAYS
    return {str(kind): int(days) for kind, days in (limits or {}).items() if int(days) > 0}


def policies_apply(*, actor: Actor | None = None) -> PolicyResult:
    """One pass of the maximum-age policy over every agency."""
    actor = actor or Actor.system("policies")
    result = PolicyResult()
    policies = {p.agency_id: p for p in FindingPolicy.objects.all()}
    agencies = set(
        Credential.objects.filter(status=Credential.Status.ACTIVE)
        .values_list("system__agency_id", flat=True)
        .distinct()
    ) | set(
        Finding.objects.filter(kind="max_age", status__in=Finding.LIVE)
        .values_list("system__agency_id", flat=True)
        .distinct()
    )
    for agency_id in sorted(agencies):
        _agency_apply(actor=actor, agency_id=agency_id, policy=policies.get(agency_id), into=result)
    return result


def _agency_apply(
    *, actor: Actor, agency_id: int, policy: FindingPolicy | None, into: PolicyResult
) -> None:
    limits = max_age_limits(policy)
    revoke = bool(policy is not None and policy.max_age_revoke)
    now = db_now()
    over: list[tuple] = []
    if limits:
        condition = Q()
        for kind, days in limits.items():
            condition |= Q(kind=kind, since__lte=now - dt.timedelta(days=days))
        over = list(
            Credential.objects.filter(system__agency_id=agency_id, status=Credential.Status.ACTIVE)
            .annotate(since=Coalesce("issued_at", "created_at"))
            .filter(condition)
            .order_by("pk")
            .values_list("pk", "system_id", "external_id", "vendor_id", "kind", "since")
        )
    by_system: dict[int, list[Sighting]] = defaultdict(list)
    for pk, system_id, external_id, vendor_id, kind, since in over:
        days = limits[kind]
        by_system[system_id].append(
            Sighting(
                kind="max_age",
                account=external_id,
                vendor_id=vendor_id,
                credential_id=pk,
                summary=f"Issued {(now - since).days} days ago; the agency's limit for "
                f"{Credential.Kind(kind).label if kind in Credential.Kind.values else kind} "
                f"is {days} days.",
                evidence={"issued_at": since.isoformat(), "limit_days": days, "kind": kind},
            )
        )
    with_live = set(
        Finding.objects.filter(
            system__agency_id=agency_id, kind="max_age", status__in=Finding.LIVE
        ).values_list("system_id", flat=True)
    )
    systems = System.objects.in_bulk(set(by_system) | with_live)
    with transaction.atomic():
        for system_id, system in sorted(systems.items()):
            sightings = by_system.get(system_id, [])
            if sightings:
                raised = findings_raise(actor=actor, system=system, sightings=sightings)
                into.findings_opened += len(raised.opened)
            if system_id in with_live:
                into.findings_resolved += len(
                    findings_resolve_absent(
                        actor=actor,
                        system=system,
                        kinds=["max_age"],
                        present={("max_age", s.account) for s in sightings},
                        reason="No longer live access over the agency's maximum age.",
                    )
                )
        into.over_age += len(over)
        if revoke and over:
            by_kind: dict[str, list[int]] = defaultdict(list)
            for pk, _system_id, _external_id, _vendor_id, kind, _since in over:
                by_kind[kind].append(pk)
            for kind, ids in sorted(by_kind.items()):
                into.revoked += request_revocation(
                    actor=actor,
                    queryset=Credential.objects.filter(pk__in=ids),
                    reason=f"Older than the agency's maximum age for this kind "
                    f"({limits[kind]} days).",
                    trigger="max_age",
                    statuses=(Credential.Status.ACTIVE,),
                    extra={
                        "policy": {"name": "max_age", "credential_kind": kind, "days": limits[kind]}
                    },
                )
