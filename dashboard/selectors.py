"""Reads behind the dashboard pages. Every query starts from ``restrict`` or the
agencies the user can see, and each page costs a small, fixed number of queries.
"""

import datetime as dt
import heapq
from dataclasses import dataclass, field

from django.db.models import CharField, Count, Exists, Max, OuterRef, Q, QuerySet
from django.db.models.functions import Cast, TruncDate
from django.utils import timezone

from access.models import Credential, System
from audit.models import AuditEvent
from revocation.models import ManualTask, RevocationAttempt
from vendors.models import Agency, Contract, Vendor
from vendors.permissions import VIEW, VIEW_AUDIT, agencies_for, restrict

CHART_DAYS = 90
CHART_BUCKET_DAYS = 7


@dataclass
class AgencyOverview:
    """Everything the home page shows for one agency."""

    agency: Agency
    credentials: dict = field(default_factory=lambda: {s: 0 for s in Credential.Status.values})
    ending: dict = field(default_factory=lambda: {7: 0, 30: 0, 90: 0})
    ending_soon: list = field(default_factory=list)
    overdue: list = field(default_factory=list)
    overdue_count: int = 0
    open_tasks: int = 0
    failed_systems: list = field(default_factory=list)
    ends_chart: list = field(default_factory=list)
    revoked_chart: list = field(default_factory=list)


@dataclass
class OverdueCredential:
    """A credential whose every contract has ended but which is not verified revoked."""

    credential: Credential
    access_ended_at: dt.datetime
    exposed_for: dt.timedelta


def _buckets(start: dt.date, counts: dict[dt.date, int]) -> list[dict]:
    """Weekly bars from ``start``, for the SVG charts."""
    bars = []
    for i in range(0, CHART_DAYS, CHART_BUCKET_DAYS):
        first = start + dt.timedelta(days=i)
        last = first + dt.timedelta(days=CHART_BUCKET_DAYS - 1)
        total = sum(n for day, n in counts.items() if first <= day <= last)
        bars.append({"first": first, "last": last, "count": total})
    return bars


def home_overview(*, user, overdue_limit: int = 20) -> list[AgencyOverview]:
    """Per agency the user can see: counts, what ends soon, what is overdue, charts."""
    now = timezone.now()
    agencies = list(agencies_for(user, VIEW).order_by("name"))
    by_id = {a.pk: AgencyOverview(agency=a) for a in agencies}
    ids = list(by_id)
    if not ids:
        return []

    # Credentials by status, grouped by system (no join over 100k rows), then by agency.
    system_agency = dict(
        System.objects.filter(agency_id__in=ids).values_list("pk", "agency_id").order_by()
    )
    for row in (
        Credential.objects.filter(system_id__in=list(system_agency))
        .values("system_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    ):
        by_id[system_agency[row["system_id"]]].credentials[row["status"]] += row["n"]

    # Running contracts whose access ends in the next 7 / 30 / 90 days.
    running = Contract.objects.filter(
        vendor__agency_id__in=ids,
        status__in=[Contract.Status.ACTIVE, Contract.Status.TERMINATED],
        access_ends_at__gt=now,
    )
    horizon = {d: now + dt.timedelta(days=d) for d in (7, 30, 90)}
    for ending in (
        running.filter(access_ends_at__lte=horizon[90])
        .values("vendor__agency_id")
        .annotate(
            d7=Count("id", filter=Q(access_ends_at__lte=horizon[7])),
            d30=Count("id", filter=Q(access_ends_at__lte=horizon[30])),
            d90=Count("id"),
        )
        .order_by()
    ):
        by_id[ending["vendor__agency_id"]].ending = {
            7: ending["d7"],
            30: ending["d30"],
            90: ending["d90"],
        }
    for contract in (
        running.filter(access_ends_at__lte=horizon[30])
        .select_related("vendor")
        .order_by("access_ends_at")[:50]
    ):
        by_id[contract.vendor.agency_id].ending_soon.append(contract)

    _add_overdue(by_id, system_agency, now, overdue_limit)

    for tasks in (
        ManualTask.objects.filter(system__agency_id__in=ids, status=ManualTask.Status.OPEN)
        .values("system__agency_id")
        .annotate(n=Count("id"))
        .order_by()
    ):
        by_id[tasks["system__agency_id"]].open_tasks = tasks["n"]

    # Failed connectors: systems with credentials whose revocation failed.
    for failed in (
        Credential.objects.filter(system__agency_id__in=ids, status=Credential.Status.FAILED)
        .values("system_id", "system__name", "system__kind", "system__agency_id")
        .annotate(n=Count("id"), last=Max("updated_at"))
        .order_by("-n")[:100]
    ):
        by_id[failed["system__agency_id"]].failed_systems.append(failed)

    # Charts: contract ends over the next 90 days, verified revocations over the past 90.
    today = timezone.localdate()
    ends: dict[int, dict] = {pk: {} for pk in ids}
    for end in (
        Contract.objects.filter(
            vendor__agency_id__in=ids,
            status__in=[Contract.Status.ACTIVE, Contract.Status.TERMINATED],
            end_date__gte=today,
            end_date__lt=today + dt.timedelta(days=CHART_DAYS),
        )
        .values("vendor__agency_id", "end_date")
        .annotate(n=Count("id"))
        .order_by()
    ):
        ends[end["vendor__agency_id"]][end["end_date"]] = end["n"]
    revoked: dict[int, dict] = {pk: {} for pk in ids}
    since = today - dt.timedelta(days=CHART_DAYS - 1)
    for rev in (
        Credential.objects.filter(
            system__agency_id__in=ids,
            status=Credential.Status.REVOKED,
            revoked_at__date__gte=since,
        )
        .annotate(day=TruncDate("revoked_at"))
        .values("system__agency_id", "day")
        .annotate(n=Count("id"))
        .order_by()
    ):
        revoked[rev["system__agency_id"]][rev["day"]] = rev["n"]
    for pk, item in by_id.items():
        item.ends_chart = _buckets(today, ends[pk])
        item.revoked_chart = _buckets(since, revoked[pk])
    return list(by_id.values())


def _add_overdue(by_id: dict, system_agency: dict, now, limit: int) -> None:
    """Credentials not verified revoked although every contract behind them has ended.

    One pass starts from the links of ended contracts (few, by the access-end index),
    drops credentials another contract still covers, and yields when access ended;
    counts and the longest-exposed are taken from that, then only those are loaded.
    """
    link = Credential.contracts.through
    still_covered = link.objects.filter(
        credential_id=OuterRef("credential_id"), contract__access_ends_at__gt=now
    )
    rows = (
        link.objects.filter(
            contract__access_ends_at__lte=now, contract__vendor__agency_id__in=list(by_id)
        )
        .exclude(credential__status=Credential.Status.REVOKED)
        .filter(~Exists(still_covered))
        .values_list("credential_id", "credential__system_id")
        .annotate(ended_at=Max("contract__access_ends_at"))
        .order_by()
    )
    per_agency: dict[int, list] = {pk: [] for pk in by_id}
    for credential_id, system_id, ended_at in rows:
        agency_id = system_agency.get(system_id)
        if agency_id is not None:
            per_agency[agency_id].append((ended_at, credential_id))
    wanted = {}
    for agency_id, items in per_agency.items():
        by_id[agency_id].overdue_count = len(items)
        for ended_at, credential_id in heapq.nsmallest(limit, items):
            wanted[credential_id] = ended_at
    credentials = Credential.objects.filter(pk__in=list(wanted)).select_related("vendor", "system")
    for credential in sorted(credentials, key=lambda c: wanted[c.pk]):
        by_id[credential.system.agency_id].overdue.append(
            OverdueCredential(credential, wanted[credential.pk], now - wanted[credential.pk])
        )


def vendor_search(
    *, user, q: str = "", status: str = "", risk_tier: str = "", agency: str = ""
) -> QuerySet[Vendor]:
    qs = restrict(Vendor.objects.all(), user, VIEW).select_related("agency")
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(registration_number__icontains=q))
    if status:
        qs = qs.filter(status=status)
    if risk_tier:
        qs = qs.filter(risk_tier=risk_tier)
    if agency:
        qs = qs.filter(agency__slug=agency)
    return qs.order_by("name", "pk")


def vendor_page_stats(vendors: list[Vendor]) -> None:
    """Credential counts and latest active contract end for one page of vendors (two queries)."""
    ids = [v.pk for v in vendors]
    counts: dict[int, dict] = {pk: {} for pk in ids}
    for row in (
        Credential.objects.filter(vendor_id__in=ids)
        .values("vendor_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    ):
        counts[row["vendor_id"]][row["status"]] = row["n"]
    last_end = {
        row["vendor_id"]: row["end"]
        for row in Contract.objects.filter(vendor_id__in=ids, status=Contract.Status.ACTIVE)
        .values("vendor_id")
        .annotate(end=Max("end_date"))
        .order_by()
    }
    for vendor in vendors:
        # Display-only attributes for the list template, set on the page's instances.
        vendor.credential_counts = counts[vendor.pk]  # type: ignore[attr-defined]
        vendor.last_contract_end = last_end.get(vendor.pk)  # type: ignore[attr-defined]


def credentials_by_system(vendor: Vendor, limit: int = 500) -> tuple[list[dict], int]:
    """The vendor's credentials grouped by system (at most ``limit`` shown)."""
    qs = vendor.credentials.select_related("system").order_by("system__name", "external_id")
    total = qs.count()
    groups: dict[int, dict] = {}
    for credential in qs[:limit]:
        group = groups.setdefault(
            credential.system_id, {"system": credential.system, "credentials": []}
        )
        group["credentials"].append(credential)
    return list(groups.values()), total


def vendor_revocation_history(vendor: Vendor, limit: int = 50) -> list:
    return list(
        RevocationAttempt.objects.filter(credential__vendor=vendor)
        .select_related("credential", "system")
        .order_by("-started_at")[:limit]
    )


def _ids_as_text(queryset: QuerySet) -> QuerySet:
    # AuditEvent.target_id is text (targets of any type), so compare with text ids.
    return queryset.annotate(t=Cast("pk", CharField())).values("t")


def vendor_audit_trail(*, user, vendor: Vendor, limit: int = 50) -> QuerySet[AuditEvent]:
    """Events about the vendor, its contracts and its credentials (auditors' view)."""
    return (
        restrict(AuditEvent.objects.all(), user, VIEW_AUDIT)
        .filter(
            Q(target_type="vendors.vendor", target_id=str(vendor.pk))
            | Q(target_type="vendors.contract", target_id__in=_ids_as_text(vendor.contracts.all()))
            | Q(
                target_type="access.credential",
                target_id__in=_ids_as_text(vendor.credentials.all()),
            ),
            agency_id=vendor.agency_id,
        )
        .order_by("-seq")[:limit]
    )


def contract_search(*, user, q: str = "", status: str = "") -> QuerySet[Contract]:
    qs = restrict(Contract.objects.all(), user, VIEW).select_related("vendor", "vendor__agency")
    if q:
        qs = qs.filter(
            Q(reference__icontains=q) | Q(title__icontains=q) | Q(vendor__name__icontains=q)
        )
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("end_date", "reference")


def system_search(
    *, user, q: str = "", lifecycle: str = "", data_classification: str = "", kind: str = ""
) -> QuerySet[System]:
    qs = restrict(System.objects.all(), user, VIEW).select_related("agency")
    if q:
        qs = qs.filter(name__icontains=q)
    if lifecycle:
        qs = qs.filter(lifecycle=lifecycle)
    if data_classification:
        qs = qs.filter(data_classification=data_classification)
    if kind:
        qs = qs.filter(kind=kind)
    return qs.order_by("agency__name", "name")


def system_page_stats(systems: list[System]) -> None:
    ids = [s.pk for s in systems]
    counts: dict[int, dict] = {pk: {} for pk in ids}
    for row in (
        Credential.objects.filter(system_id__in=ids)
        .values("system_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    ):
        counts[row["system_id"]][row["status"]] = row["n"]
    for system in systems:
        system.credential_counts = counts[system.pk]  # type: ignore[attr-defined]


def audit_search(
    *,
    user,
    q: str = "",
    action: str = "",
    actor: str = "",
    agency: Agency | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> QuerySet[AuditEvent]:
    qs = restrict(AuditEvent.objects.all(), user, VIEW_AUDIT)
    if q:
        qs = qs.filter(
            Q(action__icontains=q)
            | Q(target_repr__icontains=q)
            | Q(actor_name__icontains=q)
            | Q(request_id=q)
        )
    if action:
        qs = qs.filter(action__startswith=action)
    if actor:
        qs = qs.filter(actor_name__icontains=actor)
    if agency is not None:
        qs = qs.filter(agency_id=agency.pk)
    if date_from:
        qs = qs.filter(occurred_at__date__gte=date_from)
    if date_to:
        qs = qs.filter(occurred_at__date__lte=date_to)
    return qs.order_by("-seq")
