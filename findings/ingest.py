"""Usage events from log shippers: logins on targets Sundown cannot read live.

``usage_events_ingest`` takes a batch of reported logins (account, system, time,
source address, bytes), stores each event once (idempotent by the shipper's event id,
unique per system) and applies the rules reconciliation applies to a live session:

- matched to a credential (by the system's account key, as reconciliation matches):
  a login after the credential was revoked is ``used_after_revocation``, a login after
  every contract of a credential not yet revoked ended is ``used_after_contract_end``
  (both critical, mailed to security staff), and ``last_used_at`` moves forward to the
  login (never back);
- an account no credential names is an ``orphan``, attributed to a vendor by the
  vendor's account patterns like a listed one;
- a login on a decommissioned (legacy) system is ``decommissioned_access``
  (``legacy_access``).

Two rules only logs can tell:

- *allowed source networks* (``VendorNetwork``): when the vendor has any, a login
  whose source address lies in none of them is ``unexpected_source``;
- *volume baseline*: a transfer is a ``volume_anomaly`` when it is at least
  ``SUNDOWN_VOLUME_FACTOR`` (10) times the vendor's mean bytes per event over the last
  ``SUNDOWN_VOLUME_BASELINE_DAYS`` (30) days, that mean rests on at least
  ``SUNDOWN_VOLUME_MIN_EVENTS`` (20) earlier events, and the transfer is at least
  ``SUNDOWN_VOLUME_MIN_BYTES`` (100 MiB). Anomalous events stay out of later
  baselines, so one bulk read does not teach the baseline to expect the next.

One transaction per batch, under the row locks of its systems (the lock reconciliation
and ``findings_raise`` take): the events, the credentials' last use, the findings and,
per system, one ``system.usage_reported`` audit event naming every stored event id. A
few set-based queries per system whatever the batch size (bench/usage_ingest.py).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Avg, Count

from access.models import Credential, System
from audit.actor import Actor
from audit.services import audit_record
from findings.models import UsageEvent, VendorNetwork
from findings.rules import (
    REGISTERED_FIELDS,
    REVOKED,
    Registered,
    account_patterns,
    credential_sighting,
    lifecycle_sighting,
    orphan_sighting,
)
from findings.services import Sighting, findings_raise
from findings.usage import access_ended_at, last_used_update
from revocation.connectors.base import Account, ConnectorError, connector_for
from revocation.services.common import db_now

MAX_BATCH = 1000


@dataclass(frozen=True)
class UsageReport:
    """One reported login, as the API validated it."""

    event_id: str
    system: System
    account: str
    occurred_at: dt.datetime
    source: str | None = None
    bytes: int | None = None


@dataclass
class IngestResult:
    """What a batch did: events stored, event ids already known, findings opened."""

    accepted: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    findings_opened: list[int] = field(default_factory=list)


def usage_events_ingest(*, actor: Actor, reports: list[UsageReport]) -> IngestResult:
    """Store a batch of reported logins and raise what they show (see the module)."""
    by_system: dict[int, list[UsageReport]] = {}
    for report in reports:
        by_system.setdefault(report.system.pk, []).append(report)
    result = IngestResult()
    with transaction.atomic():
        # One transaction for the batch; the systems' row locks (the lock reconciliation
        # and findings_raise take) in system order, like every writer that locks
        # several systems: no deadlock.
        list(
            System.objects.select_for_update(no_key=True)
            .filter(pk__in=by_system)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        now = db_now()
        for system_id in sorted(by_system):
            _ingest_system(actor=actor, reports=by_system[system_id], result=result, now=now)
    return result


def _key_function(system: System) -> Callable[[str], str]:
    try:
        return connector_for(system).account_key
    except ConnectorError:
        return lambda external_id: external_id


def _ingest_system(
    *, actor: Actor, reports: list[UsageReport], result: IngestResult, now: dt.datetime
) -> None:
    system = reports[0].system
    fresh = _fresh(system, reports, result)
    if not fresh:
        return
    creds = _credentials(system, {r.account for r in fresh})
    patterns = account_patterns(system)
    vendor_of: dict[str, int | None] = {}
    sightings: list[Sighting] = []
    for report in fresh:
        cred = creds.get(report.account)
        if cred is not None:
            vendor_of[report.account] = cred.vendor_id
        elif report.account not in vendor_of:
            orphan = orphan_sighting(
                Account(external_id=report.account, active=True),
                patterns,
                _evidence(report),
            )
            vendor_of[report.account] = orphan.vendor_id
            sightings.append(orphan)
    sightings += _credential_rules(system, fresh, creds)
    networks = _networks({v for v in vendor_of.values() if v is not None})
    baselines = _baselines({v for v in vendor_of.values() if v is not None}, now)
    events = []
    for report in fresh:
        cred = creds.get(report.account)
        vendor_id = vendor_of[report.account]
        baseline = baselines.get(vendor_id) if vendor_id is not None else None
        anomaly = _volume_sighting(report, cred, vendor_id, baseline)
        if anomaly is not None:
            sightings.append(anomaly)
        allowed = networks.get(vendor_id) if vendor_id is not None else None
        source = _source_sighting(report, cred, vendor_id, allowed)
        if source is not None:
            sightings.append(source)
        events.append(
            UsageEvent(
                system=system,
                event_id=report.event_id,
                account=report.account,
                occurred_at=report.occurred_at,
                source_address=report.source,
                bytes=report.bytes,
                credential_id=cred.pk if cred else None,
                vendor_id=vendor_id,
                volume_anomaly=anomaly is not None,
                received_at=now,
                reported_by=actor.name[:200],
            )
        )
    UsageEvent.objects.bulk_create(events, batch_size=500)
    _last_used(fresh, creds, now)
    raised = findings_raise(actor=actor, system=system, sightings=sightings)
    result.findings_opened += [f.pk for f in raised.opened]
    times = [r.occurred_at for r in fresh]
    audit_record(
        actor=actor,
        action="system.usage_reported",
        target=system,
        agency_id=system.agency_id,
        after={
            "events": len(fresh),
            "event_ids": [r.event_id for r in fresh],
            "accounts": sorted({r.account for r in fresh})[:100],
            "from": min(times).isoformat(),
            "to": max(times).isoformat(),
            "findings_opened": sorted(f.pk for f in raised.opened),
        },
    )


def _fresh(system: System, reports: list[UsageReport], result: IngestResult) -> list[UsageReport]:
    """The reports whose event id this system has not stored (the first of repeats)."""
    known = set(
        UsageEvent.objects.filter(
            system=system, event_id__in=[r.event_id for r in reports]
        ).values_list("event_id", flat=True)
    )
    fresh = []
    for report in reports:
        if report.event_id in known:
            result.duplicates.append(report.event_id)
            continue
        known.add(report.event_id)
        fresh.append(report)
        result.accepted.append(report.event_id)
    return fresh


def _credentials(system: System, accounts: set[str]) -> dict[str, Registered]:
    """The system's credentials naming ``accounts``, matched as reconciliation matches."""
    key_of = _key_function(system)
    rows = Credential.objects.filter(system=system)
    exact = {
        row[1]: Registered(*row)
        for row in rows.filter(external_id__in=accounts).values_list(*REGISTERED_FIELDS)
    }
    unmatched = accounts - set(exact)
    if unmatched and key_of("A") != "A":
        # A target that compares identifiers its own way (LDAP DNs ignore case).
        wanted = {key_of(a): a for a in unmatched}
        for row in rows.values_list(*REGISTERED_FIELDS).iterator(chunk_size=2000):
            account = wanted.get(key_of(row[1]))
            if account is not None:
                exact.setdefault(account, Registered(*row))
    return exact


def _credential_rules(
    system: System, reports: list[UsageReport], creds: dict[str, Registered]
) -> list[Sighting]:
    """Decommissioned access, and use after revocation or after the contracts' end."""
    sightings = []
    ended = access_ended_at({c.pk for c in creds.values() if c.status not in REVOKED})
    for report in reports:
        cred = creds.get(report.account)
        at = report.occurred_at
        evidence = _evidence(report)
        account = Account(external_id=report.account, active=True)
        lifecycle = lifecycle_sighting(system, account, cred, evidence)
        if lifecycle is not None:
            sightings.append(lifecycle)
        if cred is None:
            continue
        if cred.status in REVOKED and cred.revoked_at and at > cred.revoked_at:
            sightings.append(
                credential_sighting(
                    "used_after_revocation",
                    cred,
                    f"A login at {at:%Y-%m-%d %H:%M} UTC after revocation "
                    f"({cred.revoked_at:%Y-%m-%d %H:%M} UTC), reported by logs.",
                    {**evidence, "revoked_at": cred.revoked_at.isoformat()},
                )
            )
        elif cred.pk in ended and at >= ended[cred.pk]:
            sightings.append(
                credential_sighting(
                    "used_after_contract_end",
                    cred,
                    f"A login at {at:%Y-%m-%d %H:%M} UTC; every contract ended "
                    f"{ended[cred.pk]:%Y-%m-%d %H:%M} UTC (reported by logs).",
                    {**evidence, "access_ended_at": ended[cred.pk].isoformat()},
                )
            )
    return sightings


def _networks(vendor_ids: set[int]) -> dict[int, list]:
    networks: dict[int, list] = {}
    for vendor_id, cidr in VendorNetwork.objects.filter(vendor_id__in=vendor_ids).values_list(
        "vendor_id", "cidr"
    ):
        networks.setdefault(vendor_id, []).append(ipaddress.ip_network(cidr, strict=False))
    return networks


def _source_sighting(
    report: UsageReport, cred: Registered | None, vendor_id: int | None, networks: list | None
) -> Sighting | None:
    if not networks or not report.source:
        return None
    address = ipaddress.ip_address(report.source)
    if any(address.version == n.version and address in n for n in networks):
        return None
    return Sighting(
        kind="unexpected_source",
        account=report.account,
        vendor_id=vendor_id,
        credential_id=cred.pk if cred else None,
        summary=f"A login from {report.source}, outside the vendor's allowed networks.",
        evidence={**_evidence(report), "allowed": [str(n) for n in networks]},
    )


@dataclass(frozen=True)
class Baseline:
    events: int
    mean_bytes: float


def _baselines(vendor_ids: set[int], now: dt.datetime) -> dict[int, Baseline]:
    """Each vendor's usual transfer: mean bytes per event over the baseline window,
    anomalies left out. One query."""
    if not vendor_ids:
        return {}
    since = now - dt.timedelta(days=settings.SUNDOWN_VOLUME_BASELINE_DAYS)
    rows = (
        UsageEvent.objects.filter(
            vendor_id__in=vendor_ids,
            occurred_at__gte=since,
            bytes__isnull=False,
            volume_anomaly=False,
        )
        .values("vendor_id")
        .annotate(n=Count("pk"), mean=Avg("bytes"))
        .order_by()
    )
    return {row["vendor_id"]: Baseline(row["n"], float(row["mean"] or 0)) for row in rows}


def _volume_sighting(
    report: UsageReport, cred: Registered | None, vendor_id: int | None, baseline: Baseline | None
) -> Sighting | None:
    if report.bytes is None or baseline is None:
        return None
    if baseline.events < settings.SUNDOWN_VOLUME_MIN_EVENTS:
        return None  # too little history to call anything unusual
    limit = max(baseline.mean_bytes * settings.SUNDOWN_VOLUME_FACTOR, 1)
    if report.bytes < settings.SUNDOWN_VOLUME_MIN_BYTES or report.bytes < limit:
        return None
    return Sighting(
        kind="volume_anomaly",
        account=report.account,
        vendor_id=vendor_id,
        credential_id=cred.pk if cred else None,
        summary=f"{report.bytes:,} bytes in one session; the vendor's usual is "
        f"{baseline.mean_bytes:,.0f} (mean of {baseline.events} events).",
        evidence={
            **_evidence(report),
            "baseline_mean_bytes": round(baseline.mean_bytes),
            "baseline_events": baseline.events,
            "factor": settings.SUNDOWN_VOLUME_FACTOR,
        },
    )


def _last_used(reports: list[UsageReport], creds: dict[str, Registered], now) -> None:
    latest: dict[int, dt.datetime] = {}
    for report in reports:
        cred = creds.get(report.account)
        if cred is None:
            continue
        # Never later than the database clock: a shipper's clock may run ahead.
        at = min(report.occurred_at, now)
        if cred.last_used_at is not None and at <= cred.last_used_at:
            continue
        if cred.pk not in latest or at > latest[cred.pk]:
            latest[cred.pk] = at
    last_used_update(used_now=[], now=now, logins=latest)


def _evidence(report: UsageReport) -> dict:
    evidence: dict = {"event_id": report.event_id, "at": report.occurred_at.isoformat()}
    if report.source:
        evidence["source"] = report.source
    if report.bytes is not None:
        evidence["bytes"] = report.bytes
    return evidence
