"""The home page's overview across apps. Every query starts from the agencies the
user can see (``within`` those ids), and the page costs a small, fixed number of
queries. The other pages read through each app's own selectors.
"""

import datetime as dt
import heapq
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Exists, Max, OuterRef, Q, Subquery
from django.db.models.functions import TruncDate
from django.utils import timezone

from access.models import Credential, System
from access.system_config import demo_label
from dashboard.policy_targets import PolicyTargets, policy_targets
from findings.kinds import Severity
from findings.models import Finding
from revocation.models import ManualTask, RevocationAttempt
from revocation.selectors import access_due_at, failure_summary
from vendors.models import Agency, Contract
from vendors.permissions import VIEW, agency_path, within
from vendors.selectors import agency_list

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
    # Revocations that failed (kill switch, a person's revoke, a review, a contract end):
    # exposed since the revocation was requested.
    failed: list = field(default_factory=list)
    open_tasks: int = 0
    failed_systems: list = field(default_factory=list)
    ends_chart: list = field(default_factory=list)
    revoked_chart: list = field(default_factory=list)
    # Live (open or acknowledged) findings by severity, and the critical ones themselves.
    findings: dict = field(default_factory=lambda: {s: 0 for s in Severity.RANK})
    critical_findings: list = field(default_factory=list)
    legacy: list = field(default_factory=list)
    # Time to verified revocation against the targets, reviews and attestations
    # (dashboard.policy_targets).
    targets: PolicyTargets | None = None
    # Systems whose target stopped answering (revocation.selectors.Outage), longest first.
    outages: list = field(default_factory=list)


@dataclass
class LegacyExposure:
    """A legacy system holding citizen records that vendors can still reach."""

    system: System
    live_credentials: int
    vendors: int
    ended_credentials: int  # live credentials whose every contract has ended
    since_end: dt.timedelta | None  # the longest of those, since its last contract ended


@dataclass
class FailedRevocation:
    """A credential whose revocation was requested and failed: access still open.

    ``error`` is the last attempt's error (the connector's words, for those who may read
    them); ``summary`` says what it means without them. ``since`` names ``due_at``."""

    credential: Credential
    requested_at: dt.datetime | None
    due_at: dt.datetime
    exposed_for: dt.timedelta
    since: str
    error: str
    summary: str


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
    agencies = list(agency_list(user=user, perm=VIEW))
    by_id = {a.pk: AgencyOverview(agency=a) for a in agencies}
    ids = list(by_id)
    if not ids:
        return []
    # Each table reaches its agency by its own path (vendors.permissions.AGENCY_OWNER).
    by_contract, by_credential = agency_path(Contract), agency_path(Credential)
    by_system, by_task = agency_path(System), agency_path(ManualTask)

    # Credentials by status, grouped by system (no join over 100k rows), then by agency.
    system_agency = dict(within(System.objects.all(), ids).values_list("pk", by_system).order_by())
    for row in (
        Credential.objects.filter(system_id__in=list(system_agency))
        .values("system_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    ):
        by_id[system_agency[row["system_id"]]].credentials[row["status"]] += row["n"]

    # Running contracts whose access ends in the next 7 / 30 / 90 days.
    running = within(Contract.objects.all(), ids).filter(
        status__in=[Contract.Status.ACTIVE, Contract.Status.TERMINATED],
        access_ends_at__gt=now,
    )
    horizon = {d: now + dt.timedelta(days=d) for d in (7, 30, 90)}
    for row in (
        running.filter(access_ends_at__lte=horizon[90])
        .values(by_contract)
        .annotate(
            d7=Count("id", filter=Q(access_ends_at__lte=horizon[7])),
            d30=Count("id", filter=Q(access_ends_at__lte=horizon[30])),
            d90=Count("id"),
        )
        .order_by()
    ):
        by_id[row[by_contract]].ending = {7: row["d7"], 30: row["d30"], 90: row["d90"]}
    for contract in (
        running.filter(access_ends_at__lte=horizon[30])
        .select_related("vendor")
        .order_by("access_ends_at")[:50]
    ):
        by_id[contract.vendor.agency_id].ending_soon.append(contract)

    _add_overdue(by_id, system_agency, now, overdue_limit)
    _add_failed(by_id, ids, now, overdue_limit)
    _add_findings(by_id, ids, limit=overdue_limit)
    _add_legacy(by_id, ids, now)
    for agency_id, targets in policy_targets(agency_ids=ids, now=now).items():
        by_id[agency_id].targets = targets

    for row in (
        within(ManualTask.objects.all(), ids)
        .filter(status=ManualTask.Status.OPEN)
        .values(by_task)
        .annotate(n=Count("id"))
        .order_by()
    ):
        by_id[row[by_task]].open_tasks = row["n"]

    # Failed connectors: systems with credentials whose revocation failed.
    for row in (
        within(Credential.objects.all(), ids)
        .filter(status=Credential.Status.FAILED)
        .values("system_id", "system__name", "system__kind", "system__config", by_credential)
        .annotate(n=Count("id"), last=Max("updated_at"))
        .order_by("-n")[:100]
    ):
        row["demo_label"] = demo_label(row["system__kind"], row.pop("system__config"))
        by_id[row[by_credential]].failed_systems.append(row)

    # Charts: contract ends over the next 90 days, verified revocations over the past 90.
    today = timezone.localdate()
    ends: dict[int, dict] = {pk: {} for pk in ids}
    for row in (
        within(Contract.objects.all(), ids)
        .filter(
            status__in=[Contract.Status.ACTIVE, Contract.Status.TERMINATED],
            end_date__gte=today,
            end_date__lt=today + dt.timedelta(days=CHART_DAYS),
        )
        .values(by_contract, "end_date")
        .annotate(n=Count("id"))
        .order_by()
    ):
        ends[row[by_contract]][row["end_date"]] = row["n"]
    revoked: dict[int, dict] = {pk: {} for pk in ids}
    since = today - dt.timedelta(days=CHART_DAYS - 1)
    for row in (
        within(Credential.objects.all(), ids)
        .filter(
            status=Credential.Status.REVOKED,
            revoked_at__date__gte=since,
        )
        .annotate(day=TruncDate("revoked_at"))
        .values(by_credential, "day")
        .annotate(n=Count("id"))
        .order_by()
    ):
        revoked[row[by_credential]][row["day"]] = row["n"]
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
            contract__access_ends_at__lte=now,
            **{f"contract__{agency_path(Contract)}__in": list(by_id)},
        )
        # A person's confirmation closes it too (and is labelled as such, not verified).
        .exclude(credential__status__in=[Credential.Status.REVOKED, Credential.Status.CONFIRMED])
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


def _add_failed(by_id: dict, ids: list[int], now, limit: int) -> None:
    """The longest-exposed failed revocations per agency, whatever asked for them (two
    queries: ids with when access was due to end, then only the rows shown, each with
    its last attempt). Exposure runs from when access should have ended: the request
    (kill switch, a person, a review) or the last contract's end, whichever came first."""
    per_agency: dict[int, list] = {pk: [] for pk in ids}
    rows = (
        within(Credential.objects.all(), ids)
        .filter(status=Credential.Status.FAILED)
        .values_list("pk", "system__agency_id", "revocation_requested_at", "updated_at")
        .annotate(contracts_end=Max("contracts__access_ends_at"))
        .order_by()
    )
    for pk, agency_id, requested_at, updated_at, contracts_end in rows:
        due = access_due_at(requested_at, _ended(contracts_end, now)) or updated_at
        per_agency[agency_id].append((due, pk))
    wanted = {
        pk: when for items in per_agency.values() for when, pk in heapq.nsmallest(limit, items)
    }
    attempts = RevocationAttempt.objects.filter(credential=OuterRef("pk")).order_by(
        "-started_at", "-pk"
    )
    credentials = (
        Credential.objects.filter(pk__in=list(wanted))
        .select_related("vendor", "system")
        .annotate(
            contracts_end=Max("contracts__access_ends_at"),
            first_attempt_at=Subquery(
                attempts.order_by("started_at", "pk").values("started_at")[:1]
            ),
            last_outcome=Subquery(attempts.values("outcome")[:1]),
            last_permanent=Subquery(attempts.values("permanent")[:1]),
            last_attempt_error=Subquery(attempts.values("error")[:1]),
        )
    )
    for row in sorted(
        (_failed_row(c, now) for c in credentials), key=lambda r: (r.due_at, r.credential.pk)
    ):
        by_id[row.credential.system.agency_id].failed.append(row)


def _ended(moment: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
    return moment if moment is not None and moment <= now else None


def _failed_row(credential: Credential, now: dt.datetime) -> FailedRevocation:
    """Why it failed and since when the access should have been gone, for one row.
    Rows from before request times were kept fall back to the first attempt, then to
    when the row last changed (it was marked failed then at the latest)."""
    c: Any = credential  # the annotations above
    requested, ended = c.revocation_requested_at, _ended(c.contracts_end, now)
    due = access_due_at(requested, ended)
    if due is None and c.first_attempt_at is not None:
        due, since = c.first_attempt_at, "the first attempt"
    elif due is None:
        due, since = c.updated_at, "it failed"
    else:
        since = "the request" if due == requested else "the contract ended"
    return FailedRevocation(
        credential=credential,
        requested_at=requested,
        due_at=due,
        exposed_for=max(now - due, dt.timedelta(0)),
        since=since,
        error=c.last_error or c.last_attempt_error or "",
        summary=failure_summary(c.last_outcome, permanent=bool(c.last_permanent)),
    )


def _add_findings(by_id: dict, ids: list[int], limit: int) -> None:
    """Live findings by severity per agency, and the newest critical ones (two queries)."""
    by_finding = agency_path(Finding)
    live = within(Finding.objects.all(), ids).filter(status__in=Finding.LIVE)
    for row in live.values(by_finding, "severity").annotate(n=Count("id")).order_by():
        by_id[row[by_finding]].findings[row["severity"]] = row["n"]
    critical = (
        live.filter(severity=Severity.CRITICAL)
        .select_related("system", "vendor")
        .order_by("-last_seen_at", "-id")[: limit * max(1, len(ids))]
    )
    for finding in critical:
        items = by_id[finding.system.agency_id].critical_findings
        if len(items) < limit:
            items.append(finding)


def _add_legacy(by_id: dict, ids: list[int], now) -> None:
    """Legacy systems with citizen records and live vendor access, most records first."""
    systems = {
        s.pk: s
        for s in within(System.objects.all(), ids).filter(
            lifecycle=System.Lifecycle.LEGACY, estimated_records__gt=0
        )
    }
    if not systems:
        return
    live = Credential.objects.filter(
        system_id__in=list(systems),
        status__in=[Credential.Status.ACTIVE, Credential.Status.FAILED, Credential.Status.PENDING],
    )
    counts = {
        row["system_id"]: row
        for row in live.values("system_id")
        .annotate(n=Count("id"), vendors=Count("vendor_id", distinct=True))
        .order_by()
    }
    ended: dict[int, list] = {}
    link = Credential.contracts.through
    for system_id, last_end in (
        link.objects.filter(credential__in=live)
        .values("credential_id", "credential__system_id")
        .annotate(last_end=Max("contract__access_ends_at"))
        .filter(Q(last_end__lte=now))
        .values_list("credential__system_id", "last_end")  # type: ignore[misc]
    ):
        ended.setdefault(system_id, []).append(last_end)
    for pk, system in sorted(systems.items(), key=lambda item: -item[1].estimated_records):
        row = counts.get(pk)
        if not row:
            continue
        ends = ended.get(pk, [])
        by_id[system.agency_id].legacy.append(
            LegacyExposure(
                system=system,
                live_credentials=row["n"],
                vendors=row["vendors"],
                ended_credentials=len(ends),
                since_end=now - min(ends) if ends else None,
            )
        )
