"""Audit chain build and `audit_verify` on PostgreSQL, each next to its yardstick.

    .venv/bin/python bench/audit_verify.py [--events 200000] [--batch 1000] [--workers 2]

Build: the chain is appended in batches through `audit_record_many` (the product's
path: `audit_lock_head`, hashes in Python, `audit_append_rows` checks, inserts and
moves the head). The yardstick is a raw multi-row INSERT of the same rows (one
statement per batch, no hashing, no framework) into a table shaped like the events: as
VALUES lists (psycopg2 execute_values) and as column arrays (unnest) with only the
primary key, and as column arrays with the events' own indexes; the ratio is taken
against the faster; and COPY FROM STDIN of the same rows with the events' indexes.
Each column array goes as one array literal built here: handed Python lists, psycopg2
writes ARRAY['a', 'b', ...] and the server parses 15,000 constants per batch, which
cost three times the insert itself (issue 16). The floor: INSERT ... SELECT of the
same rows already in the database, into a table with the events' indexes: no client,
no parsing, only the table, its indexes and WAL. Each path gets the same event
objects, built before its clock starts. Batches alternate between the paths so that
all see the same load on a shared machine. The build's WAL, checkpoints and buffers
written by backends themselves (shared_buffers too small to absorb them) are printed
beside it.

Verify: `audit_verify`'s full check (chain, stored tree, no checkpoints) with
``--workers`` processes and with one, each next to a yardstick run just before it:
one process reading every event, dumping it as sorted-key JSON and hashing it.
"""

import argparse
import io
import json
import time

from _setup import django_on_fresh_database, drop_database

DB = "sundown_bench_audit_verify"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2, help="verify processes")
    parser.add_argument(
        "--raw-every",
        type=int,
        default=1,
        help="time the raw inserts on every Kth batch only (a sample, for big chains)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()
    django_on_fresh_database(DB)

    from django.db import connection, transaction
    from psycopg2.extras import execute_values

    from audit.actor import Actor
    from audit.services import PendingEvent, audit_record_many

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_raw_pk (LIKE audit_auditevent INCLUDING DEFAULTS)")
        cursor.execute("ALTER TABLE bench_raw_pk ADD PRIMARY KEY (seq)")
        cursor.execute("CREATE TABLE bench_raw_pk_u (LIKE bench_raw_pk INCLUDING ALL)")
        cursor.execute("CREATE TABLE bench_raw_idx (LIKE audit_auditevent INCLUDING ALL)")
        cursor.execute("CREATE TABLE bench_raw_copy (LIKE audit_auditevent INCLUDING ALL)")
        cursor.execute("CREATE TABLE bench_raw_floor (LIKE audit_auditevent INCLUDING ALL)")
    raw_sql = (
        "INSERT INTO {} (seq, occurred_at, actor_type, actor_id, actor_name, source_ip, action,"
        " target_type, target_id, target_repr, agency_id, before, after, request_id,"
        " hash_version, prev_hash, hash) VALUES %s"
    )
    unnest_sql = raw_sql.replace(
        "VALUES %s",
        "SELECT c1, clock_timestamp(), 'system', c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12,"
        " c13, c14, c15 FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::inet[],"
        " %s::text[], %s::text[], %s::text[], %s::text[], %s::bigint[], %s::jsonb[],"
        " %s::jsonb[], %s::text[], %s::smallint[], %s::text[], %s::text[])"
        " AS u(c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15)",
    )

    actor = Actor(type="system", name="system:bench", request_id="bench")
    before = {"status": "active"}
    after = {"status": "revoked", "verified": True, "connector": "postgres"}

    def events(start, end):
        return [
            PendingEvent("credential.revoked", ("access.credential", i, f"role_{i}"), 1, b, a)
            for i in range(start, end)
            for b, a in [(dict(before), dict(after, n=i))]
        ]

    def raw_rows(batch):
        return [
            (
                int(e.target[1]) + 1,
                "",
                actor.name,
                None,
                e.action,
                e.target[0],
                str(e.target[1]),
                e.target[2],
                e.agency_id,
                json.dumps(e.before),
                json.dumps(e.after),
                actor.request_id,
                1,
                "0" * 64,
                "f" * 64,
            )
            for e in batch
        ]

    def raw_values(table, batch):
        """INSERT ... VALUES (...), (...): one statement, rows quoted by psycopg2."""
        rows = raw_rows(batch)
        with transaction.atomic(), connection.cursor() as cursor:
            execute_values(
                cursor,
                raw_sql.format(table),
                rows,
                template="(%s, clock_timestamp(), 'system', " + ", ".join(["%s"] * 14) + ")",
                page_size=len(rows),
            )

    def array(values) -> str:
        """One column as a PostgreSQL array literal: {"a","b",NULL}."""
        quoted = (
            "NULL" if v is None else '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
            for v in values
        )
        return "{" + ",".join(quoted) + "}"

    def raw_unnest(table, batch):
        """INSERT ... SELECT FROM unnest(column arrays): one statement, one array per column."""
        columns = [array(column) for column in zip(*raw_rows(batch), strict=True)]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(unnest_sql.format(table), columns)

    def raw_floor(batch):
        """INSERT ... SELECT of the batch's rows from bench_raw_copy: the table's own cost."""
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO bench_raw_floor SELECT * FROM bench_raw_copy"
                " WHERE seq > %s AND seq <= %s",
                [int(batch[0].target[1]), int(batch[-1].target[1]) + 1],
            )

    def chained(batch):
        with transaction.atomic():
            audit_record_many(actor=actor, events=batch)

    def raw_copy(table, batch):
        """COPY ... FROM STDIN of the same rows (tab-separated text): the fastest way in."""
        lines = [
            "\t".join([str(seq), "now", "system", *("\\N" if v is None else str(v) for v in rest)])
            for seq, *rest in raw_rows(batch)
        ]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.copy_expert(
                f"COPY {table} (seq, occurred_at, actor_type, actor_id, actor_name, source_ip,"
                " action, target_type, target_id, target_repr, agency_id, before, after,"
                " request_id, hash_version, prev_hash, hash) FROM STDIN",
                io.StringIO("\n".join(lines) + "\n"),
            )

    names = ("chained", "values_pk", "unnest_pk", "unnest_idx", "copy_idx", "floor_idx")
    spent = {name: 0.0 for name in names}
    counted = {name: 0 for name in spent}
    server_before = server_stats()
    for number, start in enumerate(range(0, args.events, args.batch)):
        end = min(start + args.batch, args.events)
        for name, fn in (
            ("values_pk", lambda b: raw_values("bench_raw_pk", b)),
            ("chained", chained),
            ("unnest_pk", lambda b: raw_unnest("bench_raw_pk_u", b)),
            ("unnest_idx", lambda b: raw_unnest("bench_raw_idx", b)),
            ("copy_idx", lambda b: raw_copy("bench_raw_copy", b)),
            ("floor_idx", raw_floor),
        ):
            if name != "chained" and number % args.raw_every:
                continue
            # Every path starts from the same objects, built before its clock starts: what
            # is timed is getting them into the table.
            batch = events(start, end)
            began = time.perf_counter()
            fn(batch)
            spent[name] += time.perf_counter() - began
            counted[name] += end - start
    server_after = server_stats()
    n = args.events
    rate = {name: counted[name] / seconds for name, seconds in spent.items()}
    best = max(rate["values_pk"], rate["unnest_pk"])
    print(f"audit chain on PostgreSQL ({connection.pg_version}), {n:,} events, batch {args.batch}")
    print(f"  chained appends (audit_record_many)           {rate['chained']:>10,.0f} events/s")
    print(f"  raw INSERT ... VALUES, primary key only       {rate['values_pk']:>10,.0f} rows/s")
    print(f"  raw INSERT ... unnest(arrays), pk only        {rate['unnest_pk']:>10,.0f} rows/s")
    print(f"  raw INSERT ... unnest(arrays), events' indexes{rate['unnest_idx']:>10,.0f} rows/s")
    print(f"  raw COPY FROM STDIN, events' indexes          {rate['copy_idx']:>10,.0f} rows/s")
    print(f"  floor: INSERT ... SELECT in the database, idx {rate['floor_idx']:>10,.0f} rows/s")
    print(
        f"  chained / best raw (pk only) {rate['chained'] / best:.2f}x;"
        f" chained / raw with the same indexes {rate['chained'] / rate['unnest_idx']:.2f}x;"
        f" chained / COPY with the same indexes {rate['chained'] / rate['copy_idx']:.2f}x;"
        f" chained / floor {rate['chained'] / rate['floor_idx']:.2f}x"
    )
    wal, timed, requested, backend = (
        a - b for a, b in zip(server_after, server_before, strict=True)
    )
    print(
        f"  build (every path): WAL {wal / 2**20:,.0f} MB; checkpoints {timed} timed,"
        f" {requested} requested; {backend:,} buffers written by backends themselves"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "DROP TABLE bench_raw_pk, bench_raw_pk_u, bench_raw_idx, bench_raw_copy,"
            " bench_raw_floor"
        )
    verify(n, args.workers)
    if not args.keep:
        drop_database(DB)


def server_stats() -> tuple[int, int, int, int]:
    """WAL position, checkpoints (timed, requested), buffers written by backends (PostgreSQL 15)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_current_wal_lsn() - '0/0', checkpoints_timed, checkpoints_req,"
            " buffers_backend FROM pg_stat_bgwriter"
        )
        wal, timed, requested, backend = cursor.fetchone()
    return int(wal), timed, requested, backend


def yardstick(n: int) -> float:
    """Seconds for the bare minimum in one process: read every event, dump it as
    sorted-key JSON, SHA-256 it (no chain, no tree, no framework)."""
    import hashlib

    import psycopg2
    from django.db import connection

    from audit.hashing import COLUMNS

    conn = psycopg2.connect(**connection.get_connection_params())
    started = time.perf_counter()
    with conn.cursor(name="yardstick") as cursor:
        cursor.itersize = 10_000
        cursor.execute(f"SELECT {', '.join(COLUMNS)} FROM audit_auditevent ORDER BY seq")
        dumps, sha256 = json.dumps, hashlib.sha256
        for row in cursor:
            text = dumps(
                dict(zip(COLUMNS, row, strict=True)),
                sort_keys=True,
                separators=(",", ":"),
                ensure_ascii=False,
                default=str,
            )
            sha256(text.encode()).hexdigest()
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def verify(n: int, workers: int) -> None:
    from audit.tree import tree_extend
    from audit.verification import audit_verify_all

    started = time.perf_counter()
    tree_extend()
    print(f"  (tree nodes stored in {time.perf_counter() - started:.1f} s, not counted)")
    timings = {}
    bare = 0.0
    for count in sorted({1, workers}, reverse=True):
        bare += yardstick(n)
        started = time.perf_counter()
        report = audit_verify_all(workers=count)
        timings[count] = time.perf_counter() - started
        assert report.ok and report.events_checked == n, report.message
    bare /= len(timings)
    print(f"  yardstick, read + sorted-key JSON + SHA-256, 1 process: {n / bare:,.0f} events/s")
    for count, seconds in sorted(timings.items()):
        print(
            f"  audit_verify (chain, tree nodes), {count} process{'es' if count > 1 else ''}:"
            f" {n:,} events in {seconds:.2f} s, {n / seconds:,.0f} events/s,"
            f" {bare / seconds:.2f}x the yardstick"
        )
    if workers > 1:
        print(f"  speed-up with {workers} processes: {timings[1] / timings[workers]:.2f}x")


if __name__ == "__main__":
    main()
