"""Reads of findings for the API, the dashboard and the home page.

Functions that take a ``user`` go through ``restrict``; those that take a finding read
below one the caller fetched through them.
"""

from django.db.models import Case, IntegerField, QuerySet, Value, When

from audit.models import AuditEvent
from findings.kinds import Severity
from findings.models import AccountPattern, Finding, ReconciliationRun, UsageEvent, VendorNetwork
from vendors.permissions import VIEW, restrict, within

SEVERITY_ORDER = Case(
    *(When(severity=code, then=Value(rank)) for code, rank in Severity.RANK.items()),
    default=Value(0),
    output_field=IntegerField(),
)


def finding_list(*, user, perm: str = VIEW) -> QuerySet[Finding]:
    """Findings of the agencies where ``user`` holds ``perm``, with ``severity_order``
    (4 = critical) for sorting."""
    return (
        restrict(Finding.objects.all(), user, perm)
        .select_related("system", "vendor", "credential")
        .annotate(severity_order=SEVERITY_ORDER)
    )


def finding_get(*, user, pk: int, perm: str = VIEW) -> Finding | None:
    return finding_list(user=user, perm=perm).select_related("system__agency").filter(pk=pk).first()


def finding_search(
    *,
    user,
    kind: str = "",
    severity: str = "",
    status: str = "",
    system: int | None = None,
    vendor: int | None = None,
) -> QuerySet[Finding]:
    """The dashboard's list: live findings first, then by severity and recency."""
    qs = finding_list(user=user)
    if kind:
        qs = qs.filter(kind=kind)
    if severity:
        qs = qs.filter(severity=severity)
    if status == "live":
        qs = qs.filter(status__in=Finding.LIVE)
    elif status:
        qs = qs.filter(status=status)
    if system:
        qs = qs.filter(system_id=system)
    if vendor:
        qs = qs.filter(vendor_id=vendor)
    return qs.order_by(SEVERITY_ORDER.desc(), "-last_seen_at", "-id")


def open_critical_findings(agency_ids, limit: int = 20) -> QuerySet[Finding]:
    """Live critical findings of ``agency_ids`` (ids from ``agencies_for``), newest first."""
    return (
        within(Finding.objects.all(), agency_ids)
        .filter(status__in=Finding.LIVE, severity=Severity.CRITICAL)
        .select_related("system", "vendor")
        .order_by("-last_seen_at", "-id")[:limit]
    )


def finding_history(finding: Finding) -> QuerySet[AuditEvent]:
    """The finding's audit events (opening, triage), oldest first."""
    return AuditEvent.objects.filter(
        target_type="findings.finding", target_id=str(finding.pk)
    ).order_by("seq")


def reconciliation_runs(*, user, perm: str = VIEW) -> QuerySet[ReconciliationRun]:
    return restrict(ReconciliationRun.objects.all(), user, perm)


def system_last_runs(system, limit: int = 10) -> QuerySet[ReconciliationRun]:
    """A system's latest passes (for its page), below a system fetched through restrict."""
    return ReconciliationRun.objects.filter(system=system).order_by("-queued_at", "-id")[:limit]


def system_live_findings(system, limit: int = 50) -> QuerySet[Finding]:
    return (
        Finding.objects.filter(system=system, status__in=Finding.LIVE)
        .select_related("vendor")
        .annotate(severity_order=SEVERITY_ORDER)
        .order_by("-severity_order", "-last_seen_at")[:limit]
    )


def usage_event_list(*, user, perm: str = VIEW) -> QuerySet[UsageEvent]:
    """Reported logins of the agencies where ``user`` holds ``perm``."""
    return restrict(UsageEvent.objects.all(), user, perm)


def vendor_networks(vendor) -> QuerySet[VendorNetwork]:
    """A vendor's allowed source networks (the caller fetched ``vendor`` through ``restrict``)."""
    return VendorNetwork.objects.filter(vendor=vendor).order_by("cidr")


def vendor_account_patterns(vendor) -> QuerySet[AccountPattern]:
    return AccountPattern.objects.filter(vendor=vendor).order_by("kind", "value")
