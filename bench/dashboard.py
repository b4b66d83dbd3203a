"""Server time and SQL query count of the dashboard's home and vendor list at scale.

Creates a private PostgreSQL database on 127.0.0.1:5432 (dropped afterwards), loads
100,000 credentials (plus vendors, contracts, systems, a second agency), then renders
each page through Django's full middleware stack and prints timings and query counts.

    .venv/bin/python bench/dashboard.py [--credentials 100000] [--runs 15]
"""

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DB_NAME = os.environ.get("BENCH_DB") or f"bench_dashboard_{os.getpid()}"
# BENCH_DB=name keeps (and on later runs reuses) the loaded database, for profiling.
KEEP = bool(os.environ.get("BENCH_DB"))
os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")

import psycopg2  # noqa: E402
from _setup import admin_sql  # noqa: E402


def load(n_credentials: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from access.models import Credential, System
    from vendors.models import Agency, Contract, Vendor
    from vendors.permissions import role_grant

    now = timezone.now()
    today = timezone.localdate()
    agency = Agency.objects.create(name="Federal Ministry of Health", slug="health")
    other = Agency.objects.create(name="Regional Tax Office", slug="tax")
    officer = get_user_model().objects.create_user("officer", password="x" * 16)
    role_grant(user=officer, agency=agency, role="security_officer")

    vendors = Vendor.objects.bulk_create(
        [
            Vendor(agency=agency if i % 10 else other, name=f"Vendor {i:04d} GmbH")
            for i in range(1000)
        ]
    )
    contracts = []
    for i, vendor in enumerate(vendors):
        for j in range(2):
            # A spread of end dates: some ended weeks ago, most in the next year.
            end = today + dt.timedelta(days=((i * 7 + j * 131) % 400) - 30)
            contract = Contract(
                vendor=vendor,
                reference=f"C-{i:04d}-{j}",
                start_date=end - dt.timedelta(days=365),
                end_date=end,
                status="ended" if end < today else "active",
            )
            contract.access_ends_at = contract.compute_access_ends_at(vendor.agency)
            contracts.append(contract)
    contracts = Contract.objects.bulk_create(contracts)
    systems = System.objects.bulk_create(
        [
            System(
                agency=agency if i % 10 else other,
                name=f"system-{i:03d}",
                kind="postgres" if i % 3 else "manual",
                lifecycle=("active", "legacy", "decommissioned")[i % 3],
            )
            for i in range(100)
        ]
    )
    by_agency = {a.pk: [s for s in systems if s.agency_id == a.pk] for a in (agency, other)}
    statuses = ["active"] * 85 + ["pending"] * 5 + ["failed"] * 2 + ["revoked"] * 8
    batch, links = [], []
    through = Credential.contracts.through
    for i in range(n_credentials):
        vendor = vendors[i % len(vendors)]
        system = by_agency[vendor.agency_id][i % len(by_agency[vendor.agency_id])]
        status = statuses[i % len(statuses)]
        batch.append(
            Credential(
                vendor=vendor,
                system=system,
                kind="database_role",
                external_id=f"vendor_role_{i:06d}",
                status=status,
                revoked_at=now - dt.timedelta(days=i % 90) if status == "revoked" else None,
                last_error="connection refused" if status == "failed" else "",
                revocation_requested_at=now if status == "pending" else None,
            )
        )
        if len(batch) == 5000 or i == n_credentials - 1:
            created = Credential.objects.bulk_create(batch)
            for k, credential in enumerate(created):
                v_index = (i - len(created) + 1 + k) % len(vendors)
                links.append(
                    through(credential_id=credential.pk, contract_id=contracts[v_index * 2].pk)
                )
            through.objects.bulk_create(links)
            batch, links = [], []
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"officer": officer, "vendor_pk": vendors[1].pk}


def measure(client, url: str, runs: int) -> tuple[list[float], int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(2):  # warm caches, connections, templates
        client.get(url)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    return times, len(queries), len(response.content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--credentials", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--slowest", action="store_true", help="print each page's slow queries")
    args = parser.parse_args()

    fresh = True
    try:
        admin_sql(f'CREATE DATABASE "{DB_NAME}"')
    except psycopg2.errors.DuplicateDatabase:
        if not KEEP:
            raise
        fresh = False
    try:
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        settings.ALLOWED_HOSTS = ["testserver"]
        settings.DEBUG = False
        if fresh:
            call_command("migrate", verbosity=0)
            started = time.perf_counter()
            data = load(args.credentials)
            elapsed = time.perf_counter() - started
            print(f"loaded {args.credentials:,} credentials in {elapsed:.1f} s")
        else:
            from django.contrib.auth import get_user_model

            from vendors.models import Vendor

            data = {
                "officer": get_user_model().objects.get(username="officer"),
                "vendor_pk": Vendor.objects.filter(agency__slug="health").first().pk,
            }

        from django.test import Client
        from django_otp import DEVICE_ID_SESSION_KEY

        from dashboard.models import SealedTOTPDevice as TOTPDevice

        client = Client()
        client.force_login(data["officer"])
        device, _ = TOTPDevice.objects.get_or_create(
            user=data["officer"], name="bench", defaults={"confirmed": True}
        )
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()

        print(f"{'page':<32} {'median ms':>10} {'p95 ms':>8} {'max ms':>8} {'queries':>8}")
        for label, url in (
            ("home", "/"),
            ("vendor list", "/vendors/"),
            ("vendor list, search", "/vendors/?q=Vendor+04&status=active"),
            ("vendor list, page 10", "/vendors/?page=10"),
            # Not part of the target; shown for context (100 credentials per vendor).
            ("vendor detail", f"/vendors/{data['vendor_pk']}/"),
        ):
            times, n_queries, size = measure(client, url, args.runs)
            times.sort()
            p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
            print(
                f"{label:<32} {statistics.median(times):>10.1f} {p95:>8.1f} "
                f"{times[-1]:>8.1f} {n_queries:>8}"
            )
            if args.slowest:
                from django.db import connection
                from django.test.utils import CaptureQueriesContext

                with CaptureQueriesContext(connection) as captured:
                    client.get(url)
                for q in sorted(captured.captured_queries, key=lambda q: -float(q["time"]))[:4]:
                    print(f"    {float(q['time']) * 1000:7.1f} ms  {q['sql'][:400]}")
    finally:
        from django.db import connections

        connections.close_all()
        if not KEEP:
            admin_sql(f'DROP DATABASE IF EXISTS "{DB_NAME}"')


if __name__ == "__main__":
    main()
