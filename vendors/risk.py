"""Risk per vendor: one documented score, 0 to 100, computed by the database.

``risk_annotate(queryset)`` adds ``risk_score`` (and its parts) to a vendor queryset as
correlated subqueries: one query for a whole list whatever its size, so the API and the
dashboard can sort and page by it. The parts:

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
    IntegerField,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Least

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


def _steps(field: str, steps: tuple[tuple[int, int], ...]) -> Case:
    return Case(
        *(When(**{f"{field}__gte": least}, then=Value(points)) for least, points in steps),
        default=Value(0),
        output_field=_INT,
    )


def risk_annotate(queryset: QuerySet[Vendor]) -> QuerySet[Vendor]:
    """``queryset`` with ``risk_score`` and its parts (``risk_tier_points``,
    ``risk_data_points``, ``risk_records_points``, ``risk_privilege_points``,
    ``risk_finding_points``): see the module for the rule."""
    live = Credential.objects.filter(vendor=OuterRef("pk"), status__in=LIVE)
    data = (
        live.annotate(points=_points("system__data_classification", CLASSIFICATION_POINTS))
        .order_by("-points")
        .values("points")[:1]
    )
    records = live.order_by("-system__estimated_records").values("system__estimated_records")[:1]
    privileged = (
        live.filter(privileges__iregex=PRIVILEGED)
        .order_by()
        .values("vendor")
        .annotate(n=Count("pk"))
        .values("n")
    )
    findings = (
        Finding.objects.filter(vendor=OuterRef("pk"), status__in=Finding.LIVE)
        .order_by()
        .values("vendor")
        .annotate(points=Sum(_points("severity", FINDING_POINTS)))
        .values("points")
    )
    zero = Value(0)
    return (
        queryset.annotate(
            risk_tier_points=_points("risk_tier", TIER_POINTS),
            risk_data_points=Coalesce(Subquery(data, output_field=_INT), zero),
            risk_records_max=Coalesce(Subquery(records), Value(0)),
            risk_privileged=Coalesce(Subquery(privileged, output_field=_INT), zero),
            risk_finding_points=Least(
                Coalesce(Subquery(findings, output_field=_INT), zero), Value(FINDINGS_CAP)
            ),
        )
        .annotate(
            risk_records_points=_steps("risk_records_max", RECORD_POINTS),
            risk_privilege_points=_steps("risk_privileged", PRIVILEGE_POINTS),
        )
        .annotate(
            risk_score=(
                Coalesce("risk_tier_points", zero)
                + Coalesce("risk_data_points", zero)
                + Coalesce("risk_records_points", zero)
                + Coalesce("risk_privilege_points", zero)
                + Coalesce("risk_finding_points", zero)
            )
        )
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
