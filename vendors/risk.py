"""Risk per vendor: one documented score, 0 to 100, computed by the database.

``risk_annotate(queryset)`` adds ``risk_score`` (and its parts) to a vendor queryset:
one query for a whole list whatever its size, so the API and the dashboard can sort and
page by it. The parts:

- **risk tier** (procurement's judgement): low 5, medium 10, high 18, critical 25;
- **data reached**: of the systems where the vendor still holds live access (a
  credential active, pending revocation or failed), the most sensitive classification:
  public 2, internal 8, confidential 16, restricted 25 (none reached: 0);
- **citizen records** of the largest such system: at least 10 million 20, 1 million 15,
  100,000 10, 10,000 5, any 2, none 0;
- **privileges**: live credentials whose privileges name administrative or write rights
  (``PRIVILEGED``: superuser, admin, owner, root, sudo, DBA, ALL PRIVILEGES, GRANT
  OPTION, write, Redis ``+@all``...): one 4, two 7, three or more 10;
- **open findings** (open or acknowledged) about the vendor: critical 10, high 5,
  medium 2, low 1 each, at most 20.

Revoked access counts for nothing: a vendor whose every credential is revoked scores
its tier plus its open findings.
"""

from __future__ import annotations

from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Least
from django.db.models.lookups import GreaterThanOrEqual

from access.models import Credential, System
from findings.models import Finding
from vendors.models import Vendor

LIVE = (Credential.Status.ACTIVE, Credential.Status.PENDING, Credential.Status.FAILED)
PRIVILEGED = (
    r"(superuser|admin|owner|root|sudo|\bdba\b|all privileges|grant option|write|"
    r"\+@all|\ballkeys\b|createrole|createdb|bypassrls)"
)

TIER_POINTS = {"low": 5, "medium": 10, "high": 18, "critical": 25}
CLASSIFICATION_POINTS = {
    System.Classification.PUBLIC: 2,
    System.Classification.INTERNAL: 8,
    System.Classification.CONFIDENTIAL: 16,
    System.Classification.RESTRICTED: 25,
}
# (at least this many records, points), largest first.
RECORD_POINTS = ((10_000_000, 20), (1_000_000, 15), (100_000, 10), (10_000, 5), (1, 2))
PRIVILEGE_POINTS = ((3, 10), (2, 7), (1, 4))
FINDING_POINTS = {"critical": 10, "high": 5, "medium": 2, "low": 1}
FINDINGS_CAP = 20

_INT = IntegerField()


def _points(field: str, table: dict) -> Case:
    return Case(
        *(When(**{field: key}, then=Value(points)) for key, points in table.items()),
        default=Value(0),
        output_field=_INT,
    )


def _steps_of(value, steps: tuple[tuple[int, int], ...]) -> Case:
    """Points for the first step ``value`` reaches (an expression, e.g. an aggregate)."""
    return Case(
        *(When(GreaterThanOrEqual(value, least), then=Value(points)) for least, points in steps),
        default=Value(0),
        output_field=_INT,
    )


def _credential_parts(live: QuerySet[Credential]) -> dict[str, QuerySet]:
    """One subquery per credential part, each returning its points for one vendor."""
    grouped = live.values("vendor")
    return {
        "data": grouped.annotate(
            points=Max(_points("system__data_classification", CLASSIFICATION_POINTS))
        ).values("points"),
        "records": grouped.annotate(
            points=_steps_of(Max("system__estimated_records"), RECORD_POINTS)
        ).values("points"),
        "privileges": grouped.annotate(
            points=_steps_of(Count("pk", filter=Q(privileges__iregex=PRIVILEGED)), PRIVILEGE_POINTS)
        ).values("points"),
    }


def risk_annotate(queryset: QuerySet[Vendor]) -> QuerySet[Vendor]:
    """``queryset`` with ``risk_score`` and its parts (``risk_tier_points``,
    ``risk_data_points``, ``risk_records_points``, ``risk_privilege_points``,
    ``risk_finding_points``): see the module for the rule.

    Two correlated subqueries per vendor make the score: its live credentials (one
    index scan, every credential part at once) and its open findings. The parts are
    subqueries of their own; sorted and paged (``ORDER BY risk_score LIMIT 50``),
    PostgreSQL evaluates those costly output columns after the sort, for the rows of the
    page only (bench/vendor_risk.py).
    """
    live = Credential.objects.filter(vendor=OuterRef("pk"), status__in=LIVE).order_by()
    parts = _credential_parts(live)
    credential_points = live.values("vendor").annotate(
        points=Max(_points("system__data_classification", CLASSIFICATION_POINTS))
        + _steps_of(Max("system__estimated_records"), RECORD_POINTS)
        + _steps_of(Count("pk", filter=Q(privileges__iregex=PRIVILEGED)), PRIVILEGE_POINTS)
    )
    findings = (
        Finding.objects.filter(vendor=OuterRef("pk"), status__in=Finding.LIVE)
        .order_by()
        .values("vendor")
        .annotate(total=Sum(_points("severity", FINDING_POINTS)))
        .annotate(points=Least(F("total"), Value(FINDINGS_CAP)))
        .values("points")
    )

    def points(subquery) -> Coalesce:
        return Coalesce(Subquery(subquery, output_field=_INT), Value(0))

    tier = _points("risk_tier", TIER_POINTS)
    return queryset.annotate(
        risk_score=tier + points(credential_points.values("points")) + points(findings),
        risk_tier_points=tier,
        risk_data_points=points(parts["data"]),
        risk_records_points=points(parts["records"]),
        risk_privilege_points=points(parts["privileges"]),
        risk_finding_points=points(findings),
    )


def risk_parts(vendor: Vendor) -> dict[str, int]:
    """The parts of an annotated vendor's score, for a page that explains it."""
    return {
        "tier": vendor.risk_tier_points,  # type: ignore[attr-defined]
        "classification": vendor.risk_data_points,  # type: ignore[attr-defined]
        "records": vendor.risk_records_points,  # type: ignore[attr-defined]
        "privileges": vendor.risk_privilege_points,  # type: ignore[attr-defined]
        "findings": vendor.risk_finding_points,  # type: ignore[attr-defined]
    }
