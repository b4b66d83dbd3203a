"""Home's policy figures per agency: how fast access really ends, against the target.

- Contract end to verified revocation: for credentials verified revoked in the last 90
  days after every contract authorising them had ended, the time from the last
  contract's end (``access_ends_at``) to ``revoked_at``: p50 and p95, and the share
  within ``SUNDOWN_REVOCATION_POLICY_HOURS`` (default 24 h, the evidence packs' target).
- Kill switch to verified revocation: from each kill switch's request event to
  ``revoked_at``, against ``SUNDOWN_KILL_SWITCH_POLICY_HOURS`` (default 1 h).
- Reviews overdue (reviews.selectors) and attestations missing: vendors whose latest
  roster attestation was missed.

A few queries for every agency at once: PostgreSQL computes the percentiles itself
(``percentile_cont``); elsewhere (SQLite, ``make run``) the durations are read and
ranked here.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.models import (
    BigIntegerField,
    Count,
    Exists,
    F,
    Max,
    OuterRef,
    Q,
    Subquery,
)
from django.db.models.functions import Cast, Coalesce

from access.models import Credential
from audit.models import AuditEvent
from reviews.models import ReviewCampaign, ReviewItem, RosterAttestation
from vendors.models import Agency, Vendor

WINDOW_DAYS = 90


@dataclass
class Timing:
    """Seconds from the clock's start to verified revocation over the window."""

    target_hours: int
    count: int = 0
    p50: float | None = None
    p95: float | None = None
    within: int = 0

    @property
    def met(self) -> bool | None:
        return None if self.p95 is None else self.p95 <= self.target_hours * 3600

    @property
    def p50_text(self) -> str:
        return _text(self.p50)

    @property
    def p95_text(self) -> str:
        return _text(self.p95)

    @property
    def within_share(self) -> int | None:
        return round(100 * self.within / self.count) if self.count else None


@dataclass
class PolicyTargets:
    contract_end: Timing
    kill_switch: Timing
    reviews_overdue: int = 0
    attestations_missing: int = 0


def _text(seconds: float | None) -> str:
    """'42 s', '7 min 3 s', '5 h 12 min', '2 days 3 h': revocations take seconds to days."""
    if seconds is None:
        return "—"
    total = max(int(round(seconds)), 0)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} day{'s' if days != 1 else ''} {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def _percentile(values: list[float], p: float) -> float | None:
    """Linear interpolation between closest ranks, as PostgreSQL's percentile_cont."""
    if not values:
        return None
    values = sorted(values)
    rank = p * (len(values) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return values[low] + (values[high] - values[low]) * (rank - low)


def _timing(durations: list[float], hours: int) -> Timing:
    return Timing(
        target_hours=hours,
        count=len(durations),
        p50=_percentile(durations, 0.5),
        p95=_percentile(durations, 0.95),
        within=sum(1 for d in durations if d <= hours * 3600),
    )


_CONTRACT_END_SQL = """
SELECT s.agency_id, count(*),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY x.seconds),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY x.seconds),
       count(*) FILTER (WHERE x.seconds <= %s)
FROM (
    SELECT c.system_id, EXTRACT(EPOCH FROM c.revoked_at - max(ct.access_ends_at)) AS seconds
    FROM access_credential c
    JOIN access_credential_contracts cc ON cc.credential_id = c.id
    JOIN vendors_contract ct ON ct.id = cc.contract_id
    JOIN access_system sy ON sy.id = c.system_id
    WHERE c.status = 'revoked' AND c.revoked_at >= %s AND sy.agency_id = ANY(%s)
    GROUP BY c.id
    HAVING max(ct.access_ends_at) <= c.revoked_at
) x JOIN access_system s ON s.id = x.system_id
GROUP BY s.agency_id
"""


def _contract_end(ids: list[int], since: dt.datetime, hours: int) -> dict[int, Timing]:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_CONTRACT_END_SQL, [hours * 3600, since, ids])
            return {
                agency: Timing(target_hours=hours, count=n, p50=p50, p95=p95, within=within)
                for agency, n, p50, p95, within in cursor.fetchall()
            }
    rows = (
        Credential.objects.filter(
            system__agency_id__in=ids, status=Credential.Status.REVOKED, revoked_at__gte=since
        )
        .annotate(ended=Max("contracts__access_ends_at"))
        .filter(ended__lte=F("revoked_at"))
        .values_list("system__agency_id", "revoked_at", "ended")
    )
    durations: dict[int, list[float]] = {}
    for agency, revoked_at, ended in rows:
        durations.setdefault(agency, []).append((revoked_at - ended).total_seconds())
    return {agency: _timing(values, hours) for agency, values in durations.items()}


def _kill_switch(ids: list[int], since: dt.datetime, hours: int) -> dict[int, Timing]:
    # Kill switches are rare and each names its credentials: the request events of the
    # window, each with its credential's verified revocation time, in one query.
    revoked_at = Credential.objects.filter(
        pk=Cast(OuterRef("target_id"), BigIntegerField()), status=Credential.Status.REVOKED
    ).values("revoked_at")[:1]
    rows = (
        AuditEvent.objects.filter(
            action="credential.revocation_requested",
            target_type="access.credential",
            agency_id__in=ids,
            occurred_at__gte=since,
            after__trigger="kill_switch",
        )
        # In the select list only: evaluated for the rows the filter kept, so the cast
        # never meets another target type's id.
        .annotate(done=Subquery(revoked_at))
        .values_list("agency_id", "occurred_at", "done")
    )
    durations: dict[int, list[float]] = {}
    for agency, at, done in rows:
        if agency is not None and done is not None and done >= at:
            durations.setdefault(agency, []).append((done - at).total_seconds())
    return {agency: _timing(values, hours) for agency, values in durations.items()}


def _counts(ids: list[int], now: dt.datetime) -> dict[int, tuple[int, int]]:
    """Per agency, in one query: reviews overdue (open campaigns past their deadline, and
    campaigns with escalated items nobody decided since) and attestations missing
    (vendors whose latest roster attestation was missed)."""
    escalated = ReviewItem.objects.filter(
        campaign=OuterRef("pk"), decision=ReviewItem.Decision.ESCALATED
    )
    overdue = (
        ReviewCampaign.objects.filter(agency=OuterRef("pk"))
        .filter(Q(status=ReviewCampaign.Status.OPEN, deadline__lte=now) | Exists(escalated))
        .order_by()
        .values("agency")
        .annotate(n=Count("pk"))
        .values("n")
    )
    latest = RosterAttestation.objects.filter(vendor=OuterRef("pk")).order_by("-sent_at", "-pk")
    missing = (
        Vendor.objects.filter(agency=OuterRef("pk"))
        .annotate(last=Subquery(latest.values("status")[:1]))
        .filter(last=RosterAttestation.Status.MISSED)
        .order_by()
        .values("agency")
        .annotate(n=Count("pk"))
        .values("n")
    )
    rows = (
        Agency.objects.filter(pk__in=ids)
        .annotate(
            overdue=Coalesce(Subquery(overdue), 0),
            missing=Coalesce(Subquery(missing), 0),
        )
        .values_list("pk", "overdue", "missing")
    )
    return {pk: (n_overdue, n_missing) for pk, n_overdue, n_missing in rows}


def policy_targets(*, agency_ids: list[int], now: dt.datetime) -> dict[int, PolicyTargets]:
    since = now - dt.timedelta(days=WINDOW_DAYS)
    end_hours = settings.SUNDOWN_REVOCATION_POLICY_HOURS
    kill_hours = settings.SUNDOWN_KILL_SWITCH_POLICY_HOURS
    ends = _contract_end(agency_ids, since, end_hours)
    kills = _kill_switch(agency_ids, since, kill_hours)
    counts = _counts(agency_ids, now)
    return {
        agency: PolicyTargets(
            contract_end=ends.get(agency, Timing(target_hours=end_hours)),
            kill_switch=kills.get(agency, Timing(target_hours=kill_hours)),
            reviews_overdue=counts.get(agency, (0, 0))[0],
            attestations_missing=counts.get(agency, (0, 0))[1],
        )
        for agency in agency_ids
    }
