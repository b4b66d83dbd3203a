"""The reviewer's queue on a 5,000-item campaign: server time and SQL queries per page.

Creates a private PostgreSQL database on 127.0.0.1:5432 (dropped afterwards), loads a
campaign of N items (default 5,000) for one reviewer, then renders the queue (page 1
and the last page), the officer's campaign page (page 1 and a late page) through
Django's full middleware stack, and one bulk answer of a whole page (one POST). The
yardstick, measured in the same run: the bare ORM read of one page of 50 credentials
with their system and vendor (what the page shows, without the page).

    .venv/bin/python bench/reviews.py [--items 5000] [--runs 15]
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
DB_NAME = f"bench_reviews_{os.getpid()}"
os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")

from _setup import admin_sql, running_contracts  # noqa: E402


def load(n_items: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from access.models import Credential, System
    from audit.actor import Actor
    from reviews.services import review_campaign_open
    from vendors.models import Agency, Vendor
    from vendors.permissions import role_grant

    users = get_user_model().objects
    agency = Agency.objects.create(name="Federal Ministry of Health", slug="health")
    sponsor = users.create_user("sponsor", password="x" * 16, email="s@agency.example")
    officer = users.create_user("officer", password="x" * 16)
    role_grant(user=sponsor, agency=agency, role="auditor")
    role_grant(user=officer, agency=agency, role="security_officer")
    vendors = Vendor.objects.bulk_create(
        [Vendor(agency=agency, name=f"Vendor {i:03d} GmbH", sponsor=sponsor) for i in range(50)]
    )
    contracts = running_contracts(agency, vendors, digits=3)
    systems = System.objects.bulk_create(
        [
            System(agency=agency, name=f"db-{i:02d}", kind="manual", estimated_records=i * 1000)
            for i in range(20)
        ]
    )
    rows = Credential.objects.bulk_create(
        [
            Credential(
                vendor=vendors[i % 50],
                system=systems[i % 20],
                kind="database_role",
                external_id=f"vendor_role_{i:05d}",
                holder=f"Person {i % 700}",
                privileges="SELECT, INSERT" if i % 5 else "SUPERUSER",
            )
            for i in range(n_items)
        ],
        batch_size=2000,
    )
    through = Credential.contracts.through
    through.objects.bulk_create(
        [through(credential_id=c.pk, contract_id=contracts[i % 50].pk) for i, c in enumerate(rows)],
        batch_size=5000,
    )
    started = time.perf_counter()
    campaign = review_campaign_open(
        actor=Actor.system("bench"),
        agency=agency,
        name="Yearly review",
        deadline=timezone.now() + dt.timedelta(days=14),
    )
    opened = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"sponsor": sponsor, "officer": officer, "campaign": campaign, "opened_s": opened}


def client_for(user):
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY

    from dashboard.models import SealedTOTPDevice as TOTPDevice

    client = Client()
    client.force_login(user)
    device, _ = TOTPDevice.objects.get_or_create(
        user=user, name="bench", defaults={"confirmed": True}
    )
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def measure(fn, runs: int) -> list[float]:
    for _ in range(2):  # warm caches, connections, templates
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return sorted(times)


def queries_of(fn) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        fn()
    return len(queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    admin_sql(f'CREATE DATABASE "{DB_NAME}"')
    try:
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        settings.ALLOWED_HOSTS = ["testserver"]
        settings.DEBUG = False
        call_command("migrate", verbosity=0)
        data = load(args.items)
        print(f"campaign of {args.items:,} items opened in {data['opened_s'] * 1000:.0f} ms")

        from access.models import Credential
        from reviews.models import ReviewItem

        sponsor, officer = client_for(data["sponsor"]), client_for(data["officer"])
        campaign = data["campaign"]
        last = (args.items + 49) // 50

        def yardstick():
            list(Credential.objects.select_related("system", "vendor").order_by("pk")[2500:2550])

        def page(client, url):
            def get():
                response = client.get(url)
                assert response.status_code == 200, (url, response.status_code)

            return get

        pages = [
            ("reviewer queue, page 1", page(sponsor, "/reviews/")),
            (f"reviewer queue, page {last}", page(sponsor, f"/reviews/?page={last}")),
            ("campaign page, page 1", page(officer, f"/reviews/campaigns/{campaign.pk}/")),
            (
                f"campaign page, page {last}",
                page(officer, f"/reviews/campaigns/{campaign.pk}/?page={last}"),
            ),
        ]
        base = statistics.median(measure(yardstick, args.runs))
        print(f"{'page':<30} {'median ms':>10} {'p95 ms':>8} {'queries':>8} {'x yardstick':>12}")
        print(f"{'yardstick: ORM read of 50':<30} {base:>10.1f} {'':>8} {1:>8} {1:>12.1f}")
        for label, fn in pages:
            times = measure(fn, args.runs)
            median = statistics.median(times)
            p95 = times[int(0.95 * (len(times) - 1))]
            print(
                f"{label:<30} {median:>10.1f} {p95:>8.1f} {queries_of(fn):>8} "
                f"{median / base:>12.1f}"
            )

        # One action for a page: keep every item of page 1 with one reason (one POST).
        ids = list(
            ReviewItem.objects.filter(campaign=campaign, decision="pending")
            .order_by("pk")
            .values_list("pk", flat=True)[:50]
        )
        body = {
            "all_on_page": "on",
            "page_items": ",".join(map(str, ids)),
            "decision": "keep",
            "reason": "Renewed support contract",
            "page": "1",
        }
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        start = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            response = sponsor.post("/reviews/decide/", body)
        took = (time.perf_counter() - start) * 1000
        assert response.status_code == 302
        kept = ReviewItem.objects.filter(pk__in=ids, decision="keep").count()
        print(
            f"{'bulk keep, one page (POST)':<30} {took:>10.1f} {'':>8} {len(queries):>8} "
            f"{took / base:>12.1f}   ({kept} items answered, one audit append)"
        )
    finally:
        from django.db import connections

        connections.close_all()
        admin_sql(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


if __name__ == "__main__":
    main()
