"""Exposure at a point in time and the SIEM export over a large trail (PostgreSQL).

Builds a trail of --credentials registrations on 20 systems (half of them then revoked:
requested + revoked events), asks "what could reach the restricted systems at the end?",
and ships the whole trail as OCSF lines to a file sink.

.venv/bin/python bench/audit_export.py [--credentials 100000]
"""

import argparse
import tempfile
import time
from pathlib import Path

from _setup import django_on_fresh_database, drop_database

DB = "sundown_bench_audit_export"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--credentials", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()
    django_on_fresh_database(DB)

    from django.db import transaction
    from django.utils import timezone

    from audit.actor import Actor
    from audit.exposure import exposure_at
    from audit.models import AuditEvent
    from audit.services import PendingEvent, audit_record_many
    from audit.shipping import audit_ship_sink
    from audit.sinks import FileSink

    actor = Actor(type="system", name="system:bench", request_id="bench")
    classes = ("public", "internal", "confidential", "restricted")
    setup = [
        PendingEvent(
            "system.created",
            ("access.system", s, f"system-{s}"),
            1,
            None,
            {
                "agency": 1,
                "name": f"system-{s}",
                "kind": "postgres",
                "lifecycle": "active",
                "data_classification": classes[s % 4],
                "estimated_records": 1000 * s,
            },
        )
        for s in range(1, 21)
    ]
    setup.append(
        PendingEvent("vendor.created", ("vendors.vendor", 1, "Acme"), 1, None, {"name": "Acme"})
    )
    setup.append(
        PendingEvent(
            "contract.created",
            ("vendors.contract", 1, "C-1"),
            1,
            None,
            {
                "vendor": 1,
                "reference": "C-1",
                "start_date": "2020-01-01",
                "end_date": "2099-12-31",
                "access_ends_at": "2100-01-01T00:00:00Z",
                "status": "active",
            },
        )
    )
    started = time.perf_counter()
    with transaction.atomic():
        audit_record_many(actor=actor, events=setup)
    batch = 1000
    n = args.credentials
    for start in range(0, n, batch):
        events = []
        for i in range(start, min(start + batch, n)):
            target = ("access.credential", i + 1, f"role_{i} (Database role)")
            events.append(
                PendingEvent(
                    "credential.registered",
                    target,
                    1,
                    None,
                    {
                        "vendor": 1,
                        "system": 1 + i % 20,
                        "contracts": [1],
                        "kind": "database_role",
                        "external_id": f"role_{i}",
                        "status": "active",
                    },
                )
            )
            if i % 2:
                events.append(
                    PendingEvent(
                        "credential.revocation_requested",
                        target,
                        1,
                        {"status": "active"},
                        {"status": "pending", "trigger": "bench"},
                    )
                )
                events.append(
                    PendingEvent(
                        "credential.revoked",
                        target,
                        1,
                        {"status": "pending"},
                        {"status": "revoked", "verified": True},
                    )
                )
        with transaction.atomic():
            audit_record_many(actor=actor, events=events)
    total = AuditEvent.objects.count()
    print(f"built a {total:,}-event trail in {time.perf_counter() - started:.1f} s")

    at = timezone.now()
    started = time.perf_counter()
    report = exposure_at(at=at, min_classification="restricted")
    elapsed = time.perf_counter() - started
    print(
        f"exposure at T over {report.head_seq:,} events: {len(report.rows):,} credentials "
        f"could reach restricted systems, answered in {elapsed:.2f} s"
    )
    with tempfile.TemporaryDirectory() as tmp:
        sink = FileSink(name="bench", path=Path(tmp) / "ocsf.jsonl")
        started = time.perf_counter()
        result = audit_ship_sink(sink=sink, batch_size=1000)
        elapsed = time.perf_counter() - started
        print(
            f"shipped {result.shipped:,} OCSF events to a file in {elapsed:.1f} s: "
            f"{result.shipped / elapsed:,.0f} events/s"
        )
    if not args.keep:
        drop_database(DB)


if __name__ == "__main__":
    main()
