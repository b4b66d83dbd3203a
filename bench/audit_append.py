"""Hash-chained audit appends per second on PostgreSQL, next to plain inserts of the
same rows into a same-shaped table without triggers or hashing, in the same run.

    .venv/bin/python bench/audit_append.py [--events 5000] [--threads 4] [--batch 100]
"""

import argparse
import threading
import time

from _setup import django_on_fresh_database, drop_database

DB = "sundown_bench_audit_append"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()
    django_on_fresh_database(DB)

    from django.db import connection, connections, transaction

    from audit.actor import Actor
    from audit.selectors import audit_chain_verify
    from audit.services import PendingEvent, audit_record_many, audit_record_standalone

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_plain (LIKE audit_auditevent INCLUDING DEFAULTS)")
        cursor.execute("ALTER TABLE bench_plain ADD PRIMARY KEY (seq)")
        cursor.execute("CREATE SEQUENCE bench_plain_seq")

    actor = Actor(type="user", id="42", name="bench-user", source_ip="192.0.2.1", request_id="b")
    before, after = {"end_date": "2026-12-31"}, {"end_date": "2027-06-30", "reason": "extension"}
    plain_sql = (
        "INSERT INTO bench_plain (seq, occurred_at, actor_type, actor_id, actor_name, source_ip,"
        " action, target_type, target_id, target_repr, agency_id, before, after, request_id,"
        " hash_version, prev_hash, hash) VALUES (nextval('bench_plain_seq'), clock_timestamp(),"
        " 'user', '42', 'bench-user', '192.0.2.1', 'contract.end_date_changed',"
        " 'vendors.contract', %s, %s, 1, %s, %s, 'b', 1, %s, %s)"
    )
    import json

    def chained_one(i):
        audit_record_standalone(
            actor=actor,
            action="contract.end_date_changed",
            target=("vendors.contract", i, f"C-{i}"),
            agency_id=1,
            before=before,
            after=after,
        )

    def plain_one(i):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                plain_sql,
                [str(i), f"C-{i}", json.dumps(before), json.dumps(after), "0" * 64, f"{i:064d}"],
            )

    def chained_batch(start, size):
        with transaction.atomic():
            audit_record_many(
                actor=actor,
                events=[
                    PendingEvent(
                        "credential.revoked", ("access.credential", i, f"r{i}"), 1, before, after
                    )
                    for i in range(start, start + size)
                ],
            )

    def plain_batch(start, size):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(
                plain_sql,
                [
                    [str(i), f"r{i}", json.dumps(before), json.dumps(after), "0" * 64, f"{i:064d}"]
                    for i in range(start, start + size)
                ],
            )

    def timed(fn, n, threads=1):
        per = n // threads

        def run(offset):
            try:
                for i in range(offset, offset + per):
                    fn(i)
            finally:
                connections.close_all()

        started = time.perf_counter()
        pool = [threading.Thread(target=run, args=(t * per,)) for t in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        return per * threads / (time.perf_counter() - started)

    def timed_batches(fn, n, size):
        started = time.perf_counter()
        for start in range(0, n, size):
            fn(start, size)
        return n / (time.perf_counter() - started)

    n = args.events
    rows = [
        ("one event per transaction, 1 connection", timed(plain_one, n), timed(chained_one, n)),
        (
            f"one event per transaction, {args.threads} connections",
            timed(plain_one, n, args.threads),
            timed(chained_one, n, args.threads),
        ),
        (
            f"{args.batch} events per transaction, 1 connection",
            timed_batches(plain_batch, n * 4, args.batch),
            timed_batches(chained_batch, n * 4, args.batch),
        ),
    ]
    report = audit_chain_verify()
    print(f"audit append benchmark on PostgreSQL ({connection.pg_version}), database {DB}")
    print(f"{'scenario':<45} {'plain inserts/s':>16} {'chained appends/s':>18} {'ratio':>7}")
    for name, plain, chained in rows:
        print(f"{name:<45} {plain:>16,.0f} {chained:>18,.0f} {chained / plain:>7.2f}")
    print(f"chain after the run: {report.message}, ok={report.ok}")
    if not args.keep:
        drop_database(DB)


if __name__ == "__main__":
    main()
