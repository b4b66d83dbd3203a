"""A log shipper's batch of 1,000 logins: ``POST /api/v1/usage-events/`` in events/s.

Creates a private PostgreSQL database on 127.0.0.1:5432 (dropped afterwards) with one
agency, 20 vendors with running contracts, allowed networks and a volume baseline, two
systems with 500 credentials each, and an integration token. Then, for each of
``--runs`` fresh batches of ``--events`` logins (half on each system, 80 % by registered
accounts, 20 % by accounts no credential names), it times:

- the API: the batch POSTed through Django's full middleware and DRF stack (in
  process, no network), validation, ingest, findings and audit included;
- the service alone: ``findings.ingest.usage_events_ingest`` on already parsed reports;
- the yardstick: one raw multi-row INSERT of the same rows into the usage-event table
  in one transaction, nothing else (what storing them costs at the least).

A batch naming a system that does not exist (what the fuzzer sent) is timed too: it
is a 400, and must not take longer than a good batch.

    .venv/bin/python bench/usage_ingest.py [--events 1000] [--runs 5] [--profile]

``--profile`` prints where one API batch spends its time (cProfile, top 25).
"""

import argparse
import cProfile
import datetime as dt
import json
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DB_NAME = f"bench_usage_{os.getpid()}"
os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")

from _setup import admin_sql, running_contracts  # noqa: E402

VENDORS = 20
CREDENTIALS_PER_SYSTEM = 500
# What --profile lists: Sundown's code, DRF's validation and Django's SQL compiler.
PROFILED = r"/(api|findings|audit)/|rest_framework/(serializers|relations|fields)|sql/compiler"


def load() -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from access.models import Credential, System
    from audit.actor import Actor
    from findings.models import UsageEvent, VendorNetwork
    from vendors.models import Agency, Vendor
    from vendors.permissions import role_grant

    agency = Agency.objects.create(name="Federal Ministry of Health", slug="health")
    user = get_user_model().objects.create_user("shipper", password="x" * 16)
    role_grant(user=user, agency=agency, role="integration")
    vendors = Vendor.objects.bulk_create(
        [Vendor(agency=agency, name=f"Vendor {i:02d} GmbH") for i in range(VENDORS)]
    )
    contracts = running_contracts(agency, vendors, digits=2)
    VendorNetwork.objects.bulk_create(
        [VendorNetwork(vendor=v, cidr=f"10.{i}.0.0/16") for i, v in enumerate(vendors)]
    )
    systems = System.objects.bulk_create(
        [System(agency=agency, name=f"app-{i}", kind="manual") for i in range(2)]
    )
    creds = Credential.objects.bulk_create(
        [
            Credential(
                vendor=vendors[i % VENDORS],
                system=system,
                kind="database_role",
                external_id=f"role_{i:04d}",
                holder=f"Person {i}",
            )
            for system in systems
            for i in range(CREDENTIALS_PER_SYSTEM)
        ]
    )
    through = Credential.contracts.through
    through.objects.bulk_create(
        [
            through(credential_id=c.pk, contract_id=contracts[i % VENDORS].pk)
            for i, c in enumerate(creds)
        ]
    )
    # A baseline of earlier logins per vendor (mean 1 MB), so the volume rule runs.
    now = timezone.now()
    UsageEvent.objects.bulk_create(
        [
            UsageEvent(
                system=systems[0],
                event_id=f"old-{i}",
                account=f"role_{i % CREDENTIALS_PER_SYSTEM:04d}",
                occurred_at=now - dt.timedelta(days=2, minutes=i),
                bytes=1_000_000,
                credential=creds[i % CREDENTIALS_PER_SYSTEM],
                vendor=vendors[i % VENDORS],
                received_at=now,
            )
            for i in range(2000)
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    from api.services import api_token_create

    _, key = api_token_create(actor=Actor.system("bench"), user=user, name="bench")
    return {"systems": [s.pk for s in systems], "key": key, "user": user}


def batch(systems: list[int], n: int, run: int) -> list[dict]:
    from django.utils import timezone

    base = timezone.now() - dt.timedelta(hours=1)
    events = []
    for i in range(n):
        registered = i % 5 != 0
        account = f"role_{(i * 7) % CREDENTIALS_PER_SYSTEM:04d}" if registered else f"x{i}"
        event = {
            "id": f"r{run}-e{i}",
            "system": systems[i % 2],
            "account": account,
            "occurred_at": (base + dt.timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
            # Most inside the vendor's network, some outside; a few huge transfers.
            "source_address": f"10.{i % VENDORS}.1.{i % 250}" if i % 10 else "203.0.113.9",
            "bytes": 500_000_000 if i % 97 == 0 else 900_000,
        }
        events.append(event)
    return events


def post(client, events: list[dict]):
    return client.generic(
        "POST", "/api/v1/usage-events/", json.dumps({"events": events}), "application/json"
    )


def raw_insert(systems: list[int], events: list[dict], run: int) -> float:
    from django.db import connection, transaction
    from django.utils import timezone

    now = timezone.now()
    rows = [
        (
            e["system"],
            f"raw-{e['id']}",
            e["account"],
            e["occurred_at"],
            e["source_address"],
            e["bytes"],
            False,
            now,
            "bench",
        )
        for e in events
    ]
    placeholders = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows))
    sql = (
        "INSERT INTO findings_usageevent (system_id, event_id, account, occurred_at,"
        " source_address, bytes, volume_anomaly, received_at, reported_by) VALUES " + placeholders
    )
    params = [value for row in rows for value in row]
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return time.perf_counter() - started


def service(systems: list[int], events: list[dict]) -> float:
    from access.models import System
    from audit.actor import Actor
    from findings.ingest import UsageReport, usage_events_ingest

    by_pk = {s.pk: s for s in System.objects.filter(pk__in=systems)}
    reports = [
        UsageReport(
            event_id=f"svc-{e['id']}",
            system=by_pk[e["system"]],
            account=e["account"],
            occurred_at=dt.datetime.fromisoformat(e["occurred_at"]),
            source=e["source_address"],
            bytes=e["bytes"],
        )
        for e in events
    ]
    started = time.perf_counter()
    usage_events_ingest(actor=Actor.system("bench"), reports=reports)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    admin_sql(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    admin_sql(f'CREATE DATABASE "{DB_NAME}"')
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections
        from rest_framework.test import APIClient

        call_command("migrate", verbosity=0)
        world = load()
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {world['key']}")
        systems = world["systems"]
        n = args.events

        post(client, batch(systems, 10, -1))  # warm up imports and caches
        api_s, svc_s, raw_s = [], [], []
        for run in range(args.runs):
            events = batch(systems, n, run)
            started = time.perf_counter()
            response = post(client, events)
            api_s.append(time.perf_counter() - started)
            assert response.status_code == 200, response.content[:500]
            assert len(response.json()["accepted"]) == n
            svc_s.append(service(systems, events))
            raw_s.append(raw_insert(systems, events, run))
        missing = [dict(e, system=0) for e in batch(systems, n, 999)]
        started = time.perf_counter()
        refused = post(client, missing)
        refused_s = time.perf_counter() - started
        assert refused.status_code == 400, refused.status_code

        print(f"usage-event ingest, {n} events per batch, {args.runs} batches (median):")
        for label, times in (
            ("API POST (validation, ingest, findings, audit)", api_s),
            ("service usage_events_ingest", svc_s),
            ("yardstick: raw multi-row INSERT", raw_s),
        ):
            median = statistics.median(times)
            print(f"  {label:<48} {median * 1000:8.0f} ms  {n / median:9.0f} events/s")
        print(f"  {'API POST naming a missing system (400)':<48} {refused_s * 1000:8.0f} ms")
        print(f"  load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

        if args.profile:
            profiler = cProfile.Profile()
            events = batch(systems, n, 5000)
            profiler.enable()
            post(client, events)
            profiler.disable()
            stats = pstats.Stats(profiler).sort_stats("cumulative")
            stats.print_stats(PROFILED, 30)
        connections.close_all()
    finally:
        admin_sql(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
