"""The vendor list sorted by risk score, on a large registry.

    .venv/bin/python bench/vendor_risk.py [--vendors 10000] [--credentials 10]

A fresh bench database on the shared PostgreSQL holds N vendors, each with
``--credentials`` credentials spread over 20 systems of every classification and size
(a third of them revoked, some with administrative privileges) and a few open findings.
Timed: the first page (50 rows) of the vendor list sorted by ``risk_score`` as the API
and the dashboard ask for it (one query; every vendor's score is computed to sort), the
count of the list, and one vendor's score. Yardstick from the same run: the same page
sorted by name, without the score.
"""

import argparse
import random
import time

from _setup import django_on_fresh_database, drop_database

DB = "sundown_bench_vendor_risk"


def seed(vendors: int, per_vendor: int) -> None:
    from django.utils import timezone

    from access.models import Credential, System
    from findings.models import Finding
    from vendors.models import Agency, Contract, Vendor

    rng = random.Random(7)
    agency = Agency.objects.create(name="Bench agency", slug="bench")
    classes = [c for c, _ in System.Classification.choices]
    systems = System.objects.bulk_create(
        [
            System(
                agency=agency,
                name=f"system-{i}",
                kind="manual",
                data_classification=classes[i % len(classes)],
                estimated_records=rng.choice([0, 5_000, 200_000, 3_000_000, 20_000_000]),
            )
            for i in range(20)
        ]
    )
    tiers = ["low", "medium", "high", "critical"]
    rows = Vendor.objects.bulk_create(
        [
            Vendor(agency=agency, name=f"Vendor {i:06d}", risk_tier=rng.choice(tiers))
            for i in range(vendors)
        ],
        batch_size=5000,
    )
    today = timezone.localdate()
    Contract.objects.bulk_create(
        [
            Contract(
                vendor=v,
                reference=f"C-{v.pk}",
                start_date=today,
                end_date=today,
                access_ends_at=timezone.now(),
            )
            for v in rows
        ],
        batch_size=5000,
    )
    privileges = ["SELECT", "SELECT, INSERT", "superuser", "db_owner", "read", ""]
    creds = []
    for v in rows:
        for j in range(per_vendor):
            revoked = rng.random() < 0.33
            creds.append(
                Credential(
                    vendor=v,
                    system=rng.choice(systems),
                    kind="database_role",
                    external_id=f"v{v.pk}_{j}",
                    privileges=rng.choice(privileges),
                    status="revoked" if revoked else "active",
                    revoked_at=timezone.now() if revoked else None,
                )
            )
    Credential.objects.bulk_create(creds, batch_size=10000)
    now = timezone.now()
    severities = ["low", "medium", "high", "critical"]
    Finding.objects.bulk_create(
        [
            Finding(
                kind="orphan",
                severity=rng.choice(severities),
                system=rng.choice(systems),
                vendor=rng.choice(rows),
                account=f"orphan-{i}",
                first_seen_at=now,
                last_seen_at=now,
            )
            for i in range(vendors // 2)
        ],
        batch_size=10000,
    )


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--vendors", type=int, default=10_000)
    parser.add_argument("--credentials", type=int, default=10)
    args = parser.parse_args()
    django_on_fresh_database(DB)
    try:
        t0 = time.perf_counter()
        seed(args.vendors, args.credentials)
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        print(
            f"set-up: {args.vendors} vendors, {args.vendors * args.credentials} credentials, "
            f"{args.vendors // 2} open findings in {time.perf_counter() - t0:.1f} s"
        )
        from django.test.utils import CaptureQueriesContext

        from vendors.models import Vendor
        from vendors.risk import risk_annotate

        def by_name():
            return list(Vendor.objects.order_by("name", "pk")[:50])

        def by_risk():
            return list(risk_annotate(Vendor.objects.all()).order_by("-risk_score", "pk")[:50])

        def one():
            vendor_id = Vendor.objects.order_by("pk").values_list("pk", flat=True)[
                args.vendors // 2
            ]
            return risk_annotate(Vendor.objects.filter(pk=vendor_id)).get().risk_score

        yardstick, _ = timed(by_name)
        with CaptureQueriesContext(connection) as queries:
            page_time, page = timed(by_risk, repeat=1)
        page_time, page = timed(by_risk)
        count_time, count = timed(lambda: risk_annotate(Vendor.objects.all()).count())
        one_time, score = timed(one)
        print(f"yardstick: first page by name, no score: {yardstick * 1000:.1f} ms")
        print(
            f"first page by risk score: {page_time * 1000:.0f} ms in {len(queries)} query "
            f"(top score {page[0].risk_score}); count: {count_time * 1000:.0f} ms ({count}); "
            f"one vendor's score: {one_time * 1000:.1f} ms ({score})"
        )
        print(f"ratio: by risk / by name = {page_time / yardstick:.0f}x")
    finally:
        drop_database(DB)


if __name__ == "__main__":
    main()
