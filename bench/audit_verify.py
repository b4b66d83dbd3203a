"""Events verified per second by `audit_verify` on a 200,000-event chain (PostgreSQL).

.venv/bin/python bench/audit_verify.py [--events 200000]
"""

import argparse
import time

from _setup import django_on_fresh_database, drop_database

DB = "sundown_bench_audit_verify"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()
    django_on_fresh_database(DB)

    from django.db import transaction

    from audit.actor import Actor
    from audit.selectors import audit_chain_verify
    from audit.services import PendingEvent, audit_record_many

    actor = Actor(type="system", name="system:bench", request_id="bench")
    before = {"status": "active"}
    after = {"status": "revoked", "verified": True, "connector": "postgres"}
    started = time.perf_counter()
    batch = 1000
    for start in range(0, args.events, batch):
        with transaction.atomic():
            audit_record_many(
                actor=actor,
                events=[
                    PendingEvent(
                        "credential.revoked",
                        ("access.credential", i, f"role_{i}"),
                        1,
                        before,
                        after,
                    )
                    for i in range(start, min(start + batch, args.events))
                ],
            )
    built = time.perf_counter() - started

    started = time.perf_counter()
    report = audit_chain_verify()
    elapsed = time.perf_counter() - started
    assert report.ok, report.message
    print(
        f"built a {report.events_checked:,}-event chain in {built:.1f} s "
        f"({report.events_checked / built:,.0f} appends/s in batches of {batch})"
    )
    print(
        f"verified {report.events_checked:,} events in {elapsed:.2f} s: "
        f"{report.events_checked / elapsed:,.0f} events/s"
    )
    if not args.keep:
        drop_database(DB)


if __name__ == "__main__":
    main()
