"""Benchmark of the REST API on a seeded PostgreSQL database.

    .venv/bin/python bench/api.py [--requests 300] [--reseed] [--http [--against DIR]]

Creates (once) the database ``sundown_bench_api`` on 127.0.0.1:5432, migrates
it and seeds 100,000 credentials over 5,000 vendors with bulk_create, plus a
stretch of audit trail. Then it calls the API in-process through Django's test
client (the full middleware and DRF stack, no network) as a security officer
with an API token, and prints p50/p95 latency and requests/s for:

- the credential list, filtered, a page of 50;
- vendor detail;
- the audit-event cursor (``?after_seq=N``);

and the number of SQL queries per request for page sizes 10 and 50, which must
be the same: nothing is loaded per row.

With ``--http`` it also starts gunicorn on a free loopback port the way the
deployment does (``-c deploy/gunicorn.conf.py``: sync workers, no threads; INFO
logs as JSON, a Prometheus multiprocess folder, the Redis cache when one answers on
127.0.0.1:6379) with 2 workers, and measures the same endpoints over HTTP with 4
concurrent clients. The clients share the machine's cores with the server, so the run
also measures two yardsticks: ``/healthz`` over HTTP under the same clients (what any
request costs: gunicorn, the middleware, no view) and the list's own SQL run raw
through psycopg2 (what the database costs a list request).

``--against DIR`` (with ``--http``) then serves the same requests from two gunicorns,
this checkout's and DIR's (``git worktree add /tmp/base main``), in alternating batches,
so a before and an after see the same neighbours' load on a shared machine.
"""

import argparse
import os
import random
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

DB_NAME = "sundown_bench_api"
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        "SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdefghijklmnop",
        "SUNDOWN_ENCRYPTION_KEYS": "YmVuY2gta2V5LWJlbmNoLWtleS1iZW5jaC1rZXktYmU=",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
        "ALLOWED_HOSTS": "testserver,127.0.0.1",
        # The bench measures the API, not the rate limit (so a per-process cache will do).
        "SUNDOWN_API_RATE": "100000000/min",
        "CACHE_URL": os.environ.get("CACHE_URL", "locmem://"),
        "LOG_LEVEL": "WARNING",
    }
)

from _api_http import deployed_cache_url, run_against, run_http, summary  # noqa: E402

VENDORS = 5_000
CREDENTIALS_PER_VENDOR = 20  # 100,000 credentials
SYSTEMS = 50
AUDIT_EVENTS = 20_000
BATCH = 5_000


def ensure_database(reseed: bool) -> None:
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cursor:
        if reseed:
            cursor.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{DB_NAME}"')
    conn.close()


def seed() -> None:
    import datetime as dt

    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from access.models import Credential, System
    from audit.actor import Actor
    from audit.services import PendingEvent, audit_record_many
    from vendors.models import Agency, Contract, Vendor
    from vendors.permissions import role_grant

    if Credential.objects.count() >= VENDORS * CREDENTIALS_PER_VENDOR:
        return
    started = time.perf_counter()
    print(f"seeding {VENDORS:,} vendors and {VENDORS * CREDENTIALS_PER_VENDOR:,} credentials")
    rng = random.Random(7)
    today = timezone.localdate()
    with transaction.atomic():
        agency = Agency.objects.create(name="Bench Ministry", slug="bench", time_zone="UTC")
        Agency.objects.create(name="Other Ministry", slug="other", time_zone="UTC")
        user = get_user_model().objects.create_user("bench-officer", password=None)
        role_grant(user=user, agency=agency, role="security_officer")
        systems = System.objects.bulk_create(
            System(
                agency=agency,
                name=f"system-{n:03d}",
                kind=rng.choice(["postgres", "mariadb", "redis", "ldap", "scim", "manual"]),
                lifecycle=rng.choice(["active", "active", "legacy"]),
                config={"host": "127.0.0.1"},
            )
            for n in range(SYSTEMS)
        )
        vendors = Vendor.objects.bulk_create(
            (Vendor(agency=agency, name=f"Vendor {n:05d} GmbH") for n in range(VENDORS)),
            batch_size=BATCH,
        )
        contracts = []
        for n, vendor in enumerate(vendors):
            end = today + dt.timedelta(days=rng.randint(-30, 700))
            contracts.append(
                Contract(
                    vendor=vendor,
                    reference=f"C-{n:05d}",
                    start_date=end - dt.timedelta(days=365),
                    end_date=end,
                    access_ends_at=dt.datetime.combine(
                        end + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC
                    ),
                )
            )
        contracts = Contract.objects.bulk_create(contracts, batch_size=BATCH)
        statuses = ["active"] * 8 + ["pending", "failed"]
        through = Credential.contracts.through
        for start in range(0, VENDORS, 500):
            chunk = []
            for vendor, contract in zip(
                vendors[start : start + 500], contracts[start : start + 500], strict=True
            ):
                for k in range(CREDENTIALS_PER_VENDOR):
                    chunk.append(
                        (
                            contract,
                            Credential(
                                vendor=vendor,
                                system=systems[(vendor.pk + k) % SYSTEMS],
                                kind="database_role",
                                external_id=f"v{vendor.pk}_r{k}",
                                status=rng.choice(statuses),
                            ),
                        )
                    )
            created = Credential.objects.bulk_create([c for _, c in chunk], batch_size=BATCH)
            through.objects.bulk_create(
                [
                    through(credential_id=cred.pk, contract_id=contract.pk)
                    for (contract, _), cred in zip(chunk, created, strict=True)
                ],
                batch_size=BATCH,
            )
    actor = Actor.system("bench-seed")
    for start in range(0, AUDIT_EVENTS, BATCH):
        with transaction.atomic():
            audit_record_many(
                actor=actor,
                events=[
                    PendingEvent(
                        action="bench.event",
                        target=("access.credential", n, f"credential {n}"),
                        agency_id=agency.pk,
                        after={"n": n},
                    )
                    for n in range(start, start + BATCH)
                ],
            )
    from django.db import connection

    with connection.cursor() as cursor:
        # What autovacuum does soon after a bulk load (statistics, and the visibility map
        # that lets a count read the system_id index alone).
        cursor.execute("VACUUM ANALYZE")
    print(f"seeded in {time.perf_counter() - started:.1f} s")


def measure(client, urls, label: str) -> dict:
    for url in urls[:20]:  # warm-up: connection, caches, query plans
        assert client.get(url).status_code == 200
    timings = []
    started = time.perf_counter()
    for url in urls:
        t0 = time.perf_counter()
        response = client.get(url)
        timings.append(time.perf_counter() - t0)
        if response.status_code != 200:
            raise SystemExit(f"{label}: {url} answered {response.status_code}")
    elapsed = time.perf_counter() - started
    timings.sort()
    return summary(label, timings, elapsed)


def print_results(results) -> None:
    print(f"{'endpoint':36} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>8}")
    for r in results:
        print(f"{r['label']:36} {r['p50']:8.1f} {r['p95']:8.1f} {r['rps']:8.0f}")


def raw_sql(client, urls, label: str) -> dict:
    """The SQL each URL's request runs, timed again on a raw psycopg2 connection."""
    import psycopg2
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    statements = []
    for url in urls:
        with CaptureQueriesContext(connection) as ctx:
            client.get(url)
        # The token's last_used_at write (once a minute) is not the list's.
        statements.append(
            [q["sql"] for q in ctx.captured_queries if q["sql"].lstrip().startswith("SELECT")]
        )
    conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname=DB_NAME)
    conn.autocommit = True
    timings = []
    with conn.cursor() as cursor:
        for sqls in statements[:20] + statements:  # the first 20 warm the connection
            t0 = time.perf_counter()
            for sql in sqls:
                cursor.execute(sql)
                cursor.fetchall()
            timings.append(time.perf_counter() - t0)
    conn.close()
    timings = sorted(timings[20:])
    return summary(label, timings, sum(timings))


def queries(client, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # The token's last_used_at is written at most once a minute, so of two requests in a
    # row at most one writes it: the fewer of their counts is the request's own.
    counts = []
    for _ in range(2):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        assert response.status_code == 200, response.content[:300]
        counts.append(len(ctx.captured_queries))
    return min(counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per endpoint")
    parser.add_argument("--reseed", action="store_true", help="drop and re-create the database")
    parser.add_argument("--http", action="store_true", help="also measure over HTTP (gunicorn)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers for --http")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients for --http")
    parser.add_argument(
        "--against",
        type=Path,
        help="another checkout (e.g. a git worktree of main): with --http, its gunicorn and "
        "this one's answer alternating batches of the same requests",
    )
    args = parser.parse_args()

    ensure_database(args.reseed)
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    from access.models import Credential, System
    from api.services import api_token_create
    from audit.actor import Actor
    from audit.models import AuditEvent
    from vendors.models import Vendor

    call_command("migrate", verbosity=0)
    seed()
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username="bench-officer")
    _, key = api_token_create(actor=Actor.system("bench"), user=user, name="bench")
    client = Client(HTTP_AUTHORIZATION=f"Token {key}")

    rng = random.Random(11)
    system_ids = list(System.objects.values_list("pk", flat=True))
    vendor_ids = list(Vendor.objects.values_list("pk", flat=True))
    max_seq = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    n = args.requests
    print(
        f"data: {Credential.objects.count():,} credentials, {len(vendor_ids):,} vendors, "
        f"{AuditEvent.objects.count():,} audit events; {n} requests per endpoint, in-process"
    )

    def credential_url(size):
        page = rng.randint(1, 10)
        system = rng.choice(system_ids)
        return f"/api/v1/credentials/?system={system}&status=active&page_size={size}&page={page}"

    def all_credentials_url(size):
        # What an integrator's first call reads: every credential, counted exactly.
        return f"/api/v1/credentials/?page_size={size}&page={rng.randint(1, 10)}"

    def audit_url(size):
        return f"/api/v1/audit-events/?after_seq={rng.randint(0, max_seq - 1000)}&limit={size}"

    results = [
        measure(client, [credential_url(50) for _ in range(n)], "credentials list (filtered, 50)"),
        measure(client, [all_credentials_url(50) for _ in range(n)], "credentials list (all, 50)"),
        measure(
            client,
            [f"/api/v1/vendors/{rng.choice(vendor_ids)}/" for _ in range(n)],
            "vendor detail",
        ),
        measure(client, [audit_url(50) for _ in range(n)], "audit-events cursor (limit 50)"),
    ]
    results += [
        raw_sql(
            client, [credential_url(50) for _ in range(n)], "yardstick: filtered list's raw SQL"
        ),
        raw_sql(
            client, [all_credentials_url(50) for _ in range(n)], "yardstick: all list's raw SQL"
        ),
    ]
    print(f"\nin-process (Django test client, one thread), load {os.getloadavg()[0]:.1f}:")
    print_results(results)

    print(f"\n{'SQL queries per request':36} {'size 10':>8} {'size 50':>8}")
    rows = [
        ("credentials list", credential_url),
        ("credentials list (all)", all_credentials_url),
        ("audit-events cursor", audit_url),
    ]
    constant = True
    for label, make in rows:
        small, large = queries(client, make(10)), queries(client, make(50))
        constant &= small == large
        print(f"{label:36} {small:8d} {large:8d}")
    vendor_q = queries(client, f"/api/v1/vendors/{vendor_ids[0]}/")
    print(f"{'vendor detail':36} {vendor_q:8d} {'-':>8}")
    if not constant:
        raise SystemExit("SQL queries grow with the page size")

    if args.http:
        import tempfile

        cache_url = deployed_cache_url()
        with tempfile.TemporaryDirectory(prefix="sundown-bench-metrics-") as metrics_dir:
            results = run_http(
                args,
                key,
                n,
                metrics_dir,
                cache_url,
                [
                    ("credentials list (filtered)", [credential_url(50) for _ in range(n)]),
                    ("credentials list (all)", [all_credentials_url(50) for _ in range(n)]),
                    (
                        "vendor detail",
                        [f"/api/v1/vendors/{rng.choice(vendor_ids)}/" for _ in range(n)],
                    ),
                    ("audit-events cursor", [audit_url(50) for _ in range(n)]),
                ],
            )
        print(
            f"\nover HTTP (gunicorn -c deploy/gunicorn.conf.py, {args.workers} sync workers, "
            f"{args.clients} concurrent clients, loopback, cache {cache_url}), "
            f"load {os.getloadavg()[0]:.1f}:"
        )
        print_results(results)
        if args.against:
            run_against(
                args,
                key,
                cache_url,
                {
                    "credentials list (filtered)": lambda: credential_url(50),
                    "credentials list (all)": lambda: all_credentials_url(50),
                    "yardstick: /healthz": lambda: "/healthz",
                },
            )


if __name__ == "__main__":
    main()
