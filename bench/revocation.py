"""Contracts end, credentials die: N PostgreSQL roles revoked and verified by real workers.

    .venv/bin/python bench/revocation.py [--credentials 10000] [--workers 1 2] [--concurrency 3]

Creates N LOGIN roles on 127.0.0.1:5432 and a fresh bench database holding one
vendor, one postgres system, N/10 contracts that all end at the same instant a few
seconds in the future, and N credentials (10 per contract). Real Celery worker
process(es) with an embedded beat, on the local Redis (a queue of its own), then
do what production does: the sweep notices the end, moves every credential to
pending with its audit event, batch tasks revoke (ALTER ROLE ... NOLOGIN and
pg_terminate_backend), verify on the catalog and record states, attempts and
audit events. Prints the time from the contracts' end until every credential is
verified revoked, the rate, p50/p99 latency from end to verified revocation, and,
in the same run, two yardsticks with no framework: a plain single-connection loop
doing the same ALTER ROLE / terminate calls one role at a time, and a raw batched
loop (one connection, 100 roles per transaction). The raw batched loop takes as many
fresh roles as the engine, once before the engine runs and once after them; the ratio
is taken against the faster of the two. (Once over 20,000 roles, it read anywhere from
22,000 to 38,000 roles/s on one machine within the hour, which moved the ratio more
than any change to the engine did.) ``--workers 1 2`` runs the engine once per value,
each on a fresh database and fresh roles. Roles, database and the run's queue in
Redis are removed afterwards.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg2
from _setup import ROOT, django_on_fresh_database, drop_database

# Per process: other sessions run this bench on the same server at the same time.
DB = f"sundown_bench_revocation_{os.getpid()}"
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}
LEAD_SECONDS = 5  # after every worker answers a ping, the contracts end this much later
BOOT_SECONDS = 180  # the longest the workers may take to answer (a loaded machine)


def admin():
    conn = psycopg2.connect(**PG)
    conn.autocommit = True
    return conn


def create_roles(names: list[str]) -> None:
    # LOGIN roles without a password (loopback trust): on this server a CREATE ROLE
    # with a password costs ~12 ms even when handed a ready SCRAM verifier, which
    # would make set-up, not revocation, the bench. NOLOGIN works the same either way.
    conn = admin()
    with conn.cursor() as cursor:
        for i in range(0, len(names), 100):
            chunk = names[i : i + 100]
            cursor.execute(
                "BEGIN; " + "; ".join(f'CREATE ROLE "{n}" LOGIN' for n in chunk) + "; COMMIT"
            )
    conn.close()


def drop_roles(prefix: str) -> int:
    conn = admin()
    with conn.cursor() as cursor:
        cursor.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s", [prefix + "%"])
        names = [r[0] for r in cursor.fetchall()]
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename LIKE %s",
            [prefix + "%"],
        )
        for i in range(0, len(names), 100):
            chunk = names[i : i + 100]
            cursor.execute(
                "BEGIN; " + "; ".join(f'DROP ROLE IF EXISTS "{n}"' for n in chunk) + "; COMMIT"
            )
    conn.close()
    return len(names)


def plain_loop(names: list[str]) -> float:
    """Rate of the obvious script: one connection, one role at a time, autocommit."""
    conn = admin()
    started = time.perf_counter()
    with conn.cursor() as cursor:
        for name in names:
            cursor.execute(f'ALTER ROLE "{name}" NOLOGIN')
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                [name],
            )
    elapsed = time.perf_counter() - started
    conn.close()
    return len(names) / elapsed


def batched_loop(names: list[str], per_transaction: int = 100) -> float:
    """Rate of a good hand-written script: one connection, 100 roles per transaction
    (ALTER ROLE ... NOLOGIN each, one terminate for all of them), no framework."""
    conn = admin()
    started = time.perf_counter()
    with conn.cursor() as cursor:
        for i in range(0, len(names), per_transaction):
            chunk = names[i : i + per_transaction]
            cursor.execute(
                "BEGIN; "
                + "; ".join(f'ALTER ROLE "{n}" NOLOGIN' for n in chunk)
                + "; SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE usename = ANY(%s); COMMIT",
                [chunk],
            )
    elapsed = time.perf_counter() - started
    conn.close()
    return len(names) / elapsed


def seed(n: int, names: list[str]):
    """Vendor, system, N/10 contracts ending together and N credentials, set up in bulk."""
    import datetime as dt

    from django.db import transaction
    from django.utils import timezone

    from access.models import Credential, System
    from vendors.models import Agency, Contract, Vendor

    # Far in the future for now; ``end_contracts`` sets the real end once workers run.
    ends_at = timezone.now() + dt.timedelta(days=365)
    with transaction.atomic():
        agency = Agency.objects.create(name="Bench Agency", slug="bench", time_zone="UTC")
        vendor = Vendor.objects.create(agency=agency, name="Bench Vendor")
        system = System.objects.create(
            agency=agency,
            name="bench-pg",
            kind=System.Kind.POSTGRES,
            config={"host": PG["host"], "port": PG["port"], "user": "postgres"},
        )
        today = timezone.localdate()
        contracts = Contract.objects.bulk_create(
            [
                Contract(
                    vendor=vendor,
                    reference=f"BENCH-{i:06d}",
                    start_date=today - dt.timedelta(days=365),
                    end_date=today,
                    access_ends_at=ends_at,
                )
                for i in range(max(1, n // 10))
            ],
            batch_size=5000,
        )
        credentials = Credential.objects.bulk_create(
            [
                Credential(
                    vendor=vendor,
                    system=system,
                    kind=Credential.Kind.DATABASE_ROLE,
                    external_id=name,
                )
                for name in names
            ],
            batch_size=5000,
        )
        through = Credential.contracts.through
        through.objects.bulk_create(
            [
                through(credential_id=c.pk, contract_id=contracts[i // 10 % len(contracts)].pk)
                for i, c in enumerate(credentials)
            ],
            batch_size=10000,
        )


def analyze() -> None:
    """Statistics of the seeded tables, as autovacuum keeps them on a live system.

    Seeded and ended in the same minute, the tables would have none: the planner then
    guesses from page counts, a state no production database is in at a contract's end.
    Only the bench database's own tables: the cluster's shared catalogs (pg_authid with
    the bench's roles) are left as the server keeps them.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        for (table,) in cursor.fetchall():
            cursor.execute(f'VACUUM ANALYZE "{table}"')


def end_contracts(lead: float):
    """Every contract ends ``lead`` seconds from now (database clock), in one statement."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE vendors_contract SET access_ends_at = now() + make_interval(secs => %s) "
            "RETURNING access_ends_at",
            [lead],
        )
        return cursor.fetchone()[0]


def broker_url() -> str:
    return os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/15")


def node_name(i: int, queue: str) -> str:
    return f"bench{i}-{queue}@{socket.gethostname()}"


def wait_until_up(count: int, queue: str, procs) -> float:
    """Seconds until every worker answers a ping (remote control, no result store needed):
    on a loaded machine the boot alone can take longer than any fixed lead."""
    from celery import Celery

    app = Celery(broker=broker_url())
    wanted = {node_name(i, queue) for i in range(count)}
    started = time.monotonic()
    try:
        while time.monotonic() - started < BOOT_SECONDS:
            if any(p.poll() is not None for p in procs):
                raise SystemExit("a worker exited while booting")
            replies = app.control.ping(destination=sorted(wanted), timeout=1.0)
            if wanted <= {name for reply in replies for name in reply}:
                return time.monotonic() - started
        raise SystemExit(f"the workers did not answer within {BOOT_SECONDS} s")
    finally:
        app.close()


def start_workers(count: int, concurrency: int, queue: str, var_dir: str, batch: int):
    env = {
        **os.environ,
        "CELERY_BROKER_URL": broker_url(),
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "SUNDOWN_VAR_DIR": var_dir,
        "SUNDOWN_SWEEP_SECONDS": "1",
        "SUNDOWN_REVOCATION_BATCH_SIZE": str(batch),
        "LOG_LEVEL": "WARNING",
        "DATABASE_CONN_MAX_AGE": "600",
    }
    celery = str(Path(sys.executable).with_name("celery"))
    procs = []
    for i in range(count):
        cmd = [
            celery,
            "-A",
            "config",
            "worker",  # every queue, all named after CELERY_TASK_DEFAULT_QUEUE
            f"--concurrency={concurrency}",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            node_name(i, queue),
        ]
        if i == 0:
            cmd += ["--beat", "--schedule", str(Path(var_dir) / "beat")]
        log = open(Path(var_dir) / f"worker{i}.log", "wb")  # noqa: SIM115
        procs.append(
            subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        )
    return procs


def engine_run(n: int, names: list[str], workers: int, args, queue: str, var_dir: str) -> dict:
    """One run on a fresh database: contracts end, workers revoke; the figures."""
    django_on_fresh_database(DB)
    from django.db import connection

    from access.models import Credential

    t = time.perf_counter()
    seed(n, names)
    analyze()
    seconds = time.perf_counter() - t
    print(f"seeded {n:,} credentials on {max(1, n // 10):,} contracts in {seconds:.1f}s")
    procs = start_workers(workers, args.concurrency, queue, var_dir, args.batch)
    try:
        boot = wait_until_up(workers, queue, procs)
        ends_at = end_contracts(LEAD_SECONDS)
        print(f"{workers} worker(s) up in {boot:.1f}s; all contracts end at {ends_at:%H:%M:%S.%f}")

        def db_now():
            with connection.cursor() as cursor:
                cursor.execute("SELECT now()")
                return cursor.fetchone()[0]

        wait = (ends_at - db_now()).total_seconds()
        if wait < 0:
            print(f"WARNING: setup overran the contracts' end by {-wait:.1f}s")
        time.sleep(max(0, wait))
        deadline = time.monotonic() + args.timeout
        # Watched through the audit chain's head, one row: a count of the revoked rows
        # every half second cost the database ~20 ms a time by the end, CPU the engine
        # under test would otherwise have. Every credential writes two events (requested,
        # revoked) and every contract one (ended), so the rows are counted only once the
        # head has come that far.
        done_at = max(1, n // 10) + 2 * n
        last = -1
        revoked = 0
        while time.monotonic() < deadline:
            with connection.cursor() as cursor:
                cursor.execute("SELECT coalesce(max(seq), 0) FROM audit_chainhead")
                events = cursor.fetchone()[0]
            if events != last:
                print(f"  +{(db_now() - ends_at).total_seconds():6.1f}s  audit events {events:,}")
                last = events
            if events >= done_at:
                revoked = Credential.objects.filter(status="revoked").count()
                if revoked == n:
                    break
            if any(p.poll() is not None for p in procs):
                raise SystemExit("a worker exited; see " + var_dir)
            time.sleep(0.5)
        else:
            raise SystemExit(f"timed out; revoked {revoked:,} of {n:,} ({last:,} audit events)")
    finally:
        stop_workers(procs)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXTRACT(EPOCH FROM revoked_at - %s) FROM access_credential "
            "WHERE status = 'revoked' ORDER BY 1",
            [ends_at],
        )
        latencies = [float(r[0]) for r in cursor.fetchall()]
        cursor.execute("SELECT action, count(*) FROM audit_auditevent GROUP BY action")
        events = dict(cursor.fetchall())
    conn = admin()
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_roles WHERE rolname = ANY(%s) AND rolcanlogin", [names]
        )
        still_login = cursor.fetchone()[0]
    conn.close()
    drop_database(DB)
    assert still_login == 0, f"{still_login} roles can still log in"
    assert events.get("credential.revoked") == n, events
    total = latencies[-1]
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return {"workers": workers, "total": total, "rate": n / total, "p50": q[49], "p99": q[98]}


def stop_workers(procs) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--credentials", type=int, default=10_000)
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1], help="worker processes, one run each"
    )
    parser.add_argument("--concurrency", type=int, default=3, help="pool size per worker")
    parser.add_argument("--batch", type=int, default=1000, help="credentials per batch task")
    parser.add_argument(
        "--plain",
        type=int,
        default=5000,
        help="roles for the plain loop (the raw batched one takes N)",
    )
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    n = args.credentials
    prefix = f"sdbench_{os.getpid()}_"
    runs = {w: [f"{prefix}w{w}_{i}" for i in range(n)] for w in args.workers}
    plain_names = [f"{prefix}plain_{i}" for i in range(min(args.plain, n))]
    queue = f"sundown-bench-{uuid.uuid4().hex[:8]}"
    var_dir = tempfile.mkdtemp(prefix="sundown-bench-")
    try:
        t = time.perf_counter()
        create_roles(plain_names)
        print(f"created {len(plain_names):,} roles in {time.perf_counter() - t:.1f}s")
        plain_rate = plain_loop(plain_names)
        print(f"plain loop (1 connection, ALTER ROLE + terminate per role): {plain_rate:,.0f}/s")
        raw_before = raw_batched(prefix, n, "before")
        results = []
        for w in args.workers:
            # Each run's roles exist only during its run, and its beat starts with a
            # schedule of its own: a run must not find the previous run's 100,000 roles
            # on the server (the reconciliation, due at once with an inherited
            # schedule, would register them all as unknown accounts during the run).
            drop_roles(f"{prefix}w")
            create_roles(runs[w])
            run_dir = tempfile.mkdtemp(prefix=f"w{w}-", dir=var_dir)
            results.append(engine_run(n, runs[w], w, args, queue, run_dir))
            drop_roles(f"{prefix}w")

        raw_after = raw_batched(prefix, n, "after")
        batched_rate = max(raw_before, raw_after)

        print()
        print(f"credentials          {n:,} ({max(1, n // 10):,} contracts ending at once)")
        print(f"plain loop           {plain_rate:,.0f}/s")
        print(
            f"raw batched loop     {batched_rate:,.0f}/s (the faster of {raw_before:,.0f}/s"
            f" before the engine runs and {raw_after:,.0f}/s after them)"
        )
        print(
            f"{'workers':>8} {'all revoked':>12} {'revoked/s':>10} {'p50':>7} {'p99':>7}"
            f" {'engine/plain':>13} {'engine/raw batched':>19}"
        )
        for r in results:
            print(
                f"{r['workers']:>8} {r['total']:>11.2f}s {r['rate']:>10,.0f} {r['p50']:>6.2f}s"
                f" {r['p99']:>6.2f}s {r['rate'] / plain_rate:>12.2f}x"
                f" {r['rate'] / batched_rate:>18.2f}x"
            )
        print(f"(concurrency {args.concurrency} per worker, batch {args.batch}; after each run")
        print(" every role was NOLOGIN and every credential.revoked event written)")
    finally:
        dropped = drop_roles(prefix)
        drop_database(DB)
        keys = drop_queue_keys(queue)
        print(f"cleaned up: {dropped:,} roles, database {DB}, {keys} Redis key(s) of the queue")


def raw_batched(prefix: str, n: int, when: str) -> float:
    """The raw batched loop's rate over ``n`` fresh roles, dropped afterwards."""
    names = [f"{prefix}batched_{when}_{i}" for i in range(n)]
    create_roles(names)
    rate = batched_loop(names)
    drop_roles(f"{prefix}batched_{when}_")
    print(
        f"raw batched loop (1 connection, 100 roles per transaction), {when} the engine: "
        f"{rate:,.0f}/s"
    )
    return rate


def drop_queue_keys(queue: str) -> int:
    """The run's own queue keys in the bench's Redis database (kombu's queue and its
    bindings): nothing else uses them once the workers are gone."""
    import redis

    client = redis.Redis.from_url(broker_url())
    try:
        keys = [k for k in client.scan_iter(match="*", count=1000) if queue.encode() in k]
        return client.delete(*keys) if keys else 0
    finally:
        client.close()


if __name__ == "__main__":
    main()
