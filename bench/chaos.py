"""Chaos: N PostgreSQL roles revoked by real workers while things break; how long to recover.

    .venv/bin/python bench/chaos.py [--credentials 30000] [--scenarios none,sigkill,...]
                                    [--runs 1] [--outage 60] [--sweep 5]

Each scenario starts from the same seeded database (a template copy): one vendor, one
postgres system reached through a loopback TCP proxy (a child process of this script,
so it can be SIGKILLed and restarted: refused, or SIGSTOPped: stalled), N/10
contracts ending together, N credentials on N LOGIN roles of the local server; and a
second system of N/30 roles reached directly, whose contracts end 10 s later (what a
stall on the first must not delay). Two worker processes of concurrency 2 and a beat
(its own process, with production's intervals unless --sweep says otherwise) on a
private Redis do what production does.

Scenarios: ``none``; ``sigkill``: a random worker's process group SIGKILLed every 3-5 s
for 30 s, restarted at once; ``child``: one pool child SIGKILLed while its batch is in
the target call; ``refused``: the proxy killed (connections refused) from before the
end for --outage s, then started again; ``stalled``: the proxy SIGSTOPped mid-run
for --outage s, then SIGCONT; ``broker``: the private Redis killed and restarted twice;
``flush``: FLUSHALL on it twice (every queued message gone); ``beats``: a second beat
for the whole run; ``locked``: 100 of the system's credential rows locked by another
transaction for 20 s from the end.

Prints per run: seconds from the contracts' end to all N verified revoked; for the
outages, seconds from the target's return to all revoked, the attempt rows written
while it was away, and the other system's time to all revoked; lost (not revoked, or
a role still LOGIN), doubled (a credential without exactly one
``credential.revocation_requested`` and one ``credential.revoked`` event), whether a
worker exited on its own, and ``audit_verify``. The machine's load average is printed
with the figures: the development machine is shared, compare figures of one run only.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import tempfile
import threading
import time
from pathlib import Path

import psycopg2
from _chaos_procs import Proxy, Redis, Workers, ready
from _chaos_timeline import Timeline
from _setup import django_on_fresh_database, drop_database

DB = "sundown_bench_chaos"
TEMPLATE = "sundown_bench_chaos_tpl"
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}
LEAD_SECONDS = 3  # after the workers are up, the contracts end this much later
SCENARIOS = (
    "none",
    "sigkill",
    "child",
    "refused",
    "stalled",
    "broker",
    "flush",
    "beats",
    "locked",
)
LOCKED_ROWS, LOCKED_SECONDS = 100, 20


# Roles and the seeded database -------------------------------------------------------
def admin():
    conn = psycopg2.connect(**PG)
    conn.autocommit = True
    return conn


def roles_sql(names: list[str], statement: str) -> None:
    conn = admin()
    with conn.cursor() as cursor:
        for i in range(0, len(names), 500):
            chunk = names[i : i + 500]
            cursor.execute("BEGIN; " + "; ".join(statement % f'"{n}"' for n in chunk) + "; COMMIT")
    conn.close()


def seed(names: list[str], other: list[str], proxy_port: int) -> None:
    import datetime as dt

    from django.db import transaction
    from django.utils import timezone

    from access.models import Credential, System
    from vendors.models import Agency, Contract, Vendor

    far = timezone.now() + dt.timedelta(days=365)
    today = timezone.localdate()
    with transaction.atomic():
        agency = Agency.objects.create(name="Chaos Agency", slug="chaos", time_zone="UTC")
        vendor = Vendor.objects.create(agency=agency, name="Chaos Vendor")
        for system_name, port, roles in (
            ("chaos-pg", proxy_port, names),
            ("other-pg", 5432, other),
        ):
            system = System.objects.create(
                agency=agency,
                name=system_name,
                kind=System.Kind.POSTGRES,
                config={"host": "127.0.0.1", "port": port, "user": "postgres"},
            )
            contracts = Contract.objects.bulk_create(
                [
                    Contract(
                        vendor=vendor,
                        reference=f"{system_name}-{i:06d}",
                        start_date=today - dt.timedelta(days=365),
                        end_date=today,
                        access_ends_at=far,
                    )
                    for i in range(max(1, len(roles) // 10))
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
                        # Seen there at registration (as registering does): a role gone
                        # by the time it is revoked then counts as gone, not as unknown.
                        last_seen_on_target_at=timezone.now(),
                    )
                    for name in roles
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


def copy_template(source: str, target: str) -> None:
    from django.db import connections

    connections.close_all()
    conn = admin()
    with conn.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')
    conn.close()


def end_contracts(lead: float, other_lead: float):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE vendors_contract SET access_ends_at = now() + make_interval(secs => "
            "CASE WHEN reference LIKE 'other-pg-%%' THEN %s ELSE %s END) "
            "WHERE reference LIKE 'chaos-pg-%%' OR reference LIKE 'other-pg-%%' "
            "RETURNING reference LIKE 'other-pg-%%', access_ends_at",
            [other_lead, lead],
        )
        ends = dict(cursor.fetchall())
    return ends[False], ends[True]


def db_now():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        return cursor.fetchone()[0]


# One run ----------------------------------------------------------------------------
def counts(system_name: str) -> tuple[int, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE c.status = 'revoked'), "
            "count(*) FILTER (WHERE c.status <> 'active') "
            "FROM access_credential c JOIN access_system s ON s.id = c.system_id "
            "WHERE s.name = %s",
            [system_name],
        )
        return cursor.fetchone()


def attempt_rows_between(start, end) -> int:
    """Attempt rows of the faulty system written while its target was away."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM revocation_revocationattempt a JOIN access_system s "
            "ON s.id = a.system_id WHERE s.name = 'chaos-pg' "
            "AND a.finished_at >= %s AND a.finished_at <= %s",
            [start, end],
        )
        return cursor.fetchone()[0]


def check(prefix: str, n: int) -> dict:
    from django.db import connection

    from audit.verification import audit_verify_all

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM access_credential c WHERE c.status <> 'revoked' "
            "OR (SELECT count(*) FROM audit_auditevent e WHERE e.target_type = "
            "'access.credential' AND e.target_id = c.id::text "
            "AND e.action = 'credential.revocation_requested') <> 1 "
            "OR (SELECT count(*) FROM audit_auditevent e WHERE e.target_type = "
            "'access.credential' AND e.target_id = c.id::text "
            "AND e.action = 'credential.revoked') <> 1"
        )
        bad = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM access_credential WHERE status <> 'revoked'")
        not_revoked = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM revocation_revocationattempt")
        attempts = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM revocation_revocationattempt WHERE outcome = 'abandoned'"
        )
        abandoned = cursor.fetchone()[0]
        cursor.execute("SELECT action, count(*) FROM audit_auditevent GROUP BY action")
        events = dict(cursor.fetchall())
    conn = admin()
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_roles WHERE rolname LIKE %s AND rolcanlogin", [prefix + "%"]
        )
        still_login = cursor.fetchone()[0]
    conn.close()
    report = audit_verify_all(verifier=None, checkpoint_lines=None)
    return {
        "lost": max(not_revoked, still_login),
        "doubled": bad - not_revoked,
        "attempts": attempts,
        "abandoned": abandoned,
        "outage_events": events.get("system.target_unreachable", 0),
        "audit_ok": report.ok,
    }


def run(scenario: str, args, names, other, proxy: Proxy, redis) -> dict:
    copy_template(TEMPLATE, DB)
    roles_sql(names + other, "ALTER ROLE %s LOGIN")
    redis.flush()
    proxy.kill()
    proxy.start()
    var_dir = tempfile.mkdtemp(prefix="sundown-chaos-")
    workers = Workers(broker=redis.url, var_dir=var_dir, sweep=args.sweep)
    workers.start()
    if scenario == "beats":
        workers.start_beat("beat2")
    ready(workers)
    time.sleep(8)  # Django and every connector loaded in each pool child
    outage = args.outage
    lead = LEAD_SECONDS + (1 if scenario == "refused" else 0)
    ends_at, other_ends_at = end_contracts(lead, lead + 10)
    result: dict = {"scenario": scenario}
    stop = threading.Event()
    marks: dict = {}

    def chaos():
        start = time.monotonic()
        if scenario == "sigkill":
            time.sleep(max(0, (ends_at - db_now()).total_seconds()))
            until = time.monotonic() + 30
            while time.monotonic() < until and not stop.is_set():
                time.sleep(random.uniform(3, 5))
                victim = random.randrange(workers.count)
                marks.setdefault("kills", []).append(round((db_now() - ends_at).total_seconds(), 1))
                workers.kill(victim)
                workers.start_worker(victim)  # restarted at once, as a supervisor does
        elif scenario == "child":
            time.sleep(max(0, (ends_at - db_now()).total_seconds()))
            marks["child"] = kill_a_leasing_child(workers)
        elif scenario == "refused":
            proxy.kill()
            marks["down"] = db_now()
            time.sleep(max(0, start + outage - time.monotonic()))
            proxy.start()
            marks["back"] = db_now()
        elif scenario == "stalled":
            time.sleep(max(0, (ends_at - db_now()).total_seconds()) + 1)
            proxy.stop_signal(signal.SIGSTOP)
            marks["down"] = db_now()
            time.sleep(outage)
            proxy.stop_signal(signal.SIGCONT)
            marks["back"] = db_now()
        elif scenario == "broker":
            time.sleep(max(0, (ends_at - db_now()).total_seconds()) + 1)
            for _ in range(2):
                redis.restart()
                time.sleep(2)
        elif scenario == "flush":
            time.sleep(max(0, (ends_at - db_now()).total_seconds()) + 1)
            for _ in range(2):
                redis.flush()
                time.sleep(2)
        elif scenario == "locked":
            hold_rows(until_end=(ends_at - db_now()).total_seconds())

    thread = threading.Thread(target=chaos, daemon=True)
    thread.start()
    n, m = len(names), len(other)
    done_at = other_done_at = None
    deadline = time.monotonic() + args.timeout
    timeline: list[str] = []
    leases = Timeline()
    try:
        while time.monotonic() < deadline:
            leases.sample(workers)
            if scenario != "sigkill":
                workers.check()
            revoked, requested = counts("chaos-pg")
            other_revoked, _ = counts("other-pg")
            now = db_now()
            if other_done_at is None and other_revoked == m:
                other_done_at = now
            if done_at is None and revoked == n:
                done_at = now
            second = int((now - ends_at).total_seconds())
            if second >= 0 and len(timeline) <= second:
                timeline.append(f"{second}s:{requested}/{revoked}")
            if done_at and other_done_at and not thread.is_alive():
                break
            time.sleep(0.25)
    finally:
        stop.set()
        thread.join(timeout=120)
        workers.stop()
    if args.verbose:
        print(f"  {scenario} timeline: {' '.join(timeline)} marks: {marks}")
        print("\n".join(leases.report(workers, ends_at)))
    if scenario != "sigkill":
        result["worker_exits"] = workers.exited_alone
    result["all_revoked_s"] = (done_at - ends_at).total_seconds() if done_at else None
    result["other_s"] = (other_done_at - other_ends_at).total_seconds() if other_done_at else None
    if "back" in marks:
        result["after_back_s"] = (done_at - marks["back"]).total_seconds() if done_at else None
        result["outage_attempt_rows"] = attempt_rows_between(marks["down"], marks["back"])
    result.update(check(args.prefix, n))
    result["load"] = os.getloadavg()[0]
    return result


def hold_rows(*, until_end: float) -> None:
    """From just before the end, another transaction holds LOCKED_ROWS of the system's
    credential rows (FOR UPDATE) for LOCKED_SECONDS: a long report, a stuck migration."""
    conn = psycopg2.connect(**{**PG, "dbname": DB})
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT c.id FROM access_credential c JOIN access_system s ON s.id = c.system_id "
                "WHERE s.name = 'chaos-pg' ORDER BY c.id LIMIT %s FOR UPDATE OF c",
                [LOCKED_ROWS],
            )
            time.sleep(max(0.0, until_end) + LOCKED_SECONDS)
        conn.rollback()
    finally:
        conn.close()


def kill_a_leasing_child(workers: Workers) -> int | None:
    """SIGKILL the pool child holding a lease on the bench system (in its target call)."""
    from django.db import connection

    pids = set()
    for pid in workers.pids():
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        pids |= {int(c) for c in children}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT DISTINCT lease_owner FROM access_credential WHERE lease_owner <> '' "
                "AND status = 'pending'"
            )
            owners = [row[0] for row in cursor.fetchall()]
        for owner in owners:
            pid = int(owner.split("/")[0].rpartition(":")[2])
            if pid in pids:
                os.kill(pid, signal.SIGKILL)
                return pid
        time.sleep(0.05)
    return None


def table(results: list[dict]) -> None:
    columns = [
        ("scenario", "scenario", "{}"),
        ("all_revoked_s", "all revoked s", "{:.1f}"),
        ("after_back_s", "after back s", "{:.1f}"),
        ("outage_attempt_rows", "rows in outage", "{}"),
        ("other_s", "other system s", "{:.1f}"),
        ("attempts", "attempt rows", "{}"),
        ("abandoned", "abandoned", "{}"),
        ("lost", "lost", "{}"),
        ("doubled", "doubled", "{}"),
        ("worker_exits", "worker exits", "{}"),
        ("audit_ok", "audit_verify", "{}"),
        ("load", "load avg", "{:.1f}"),
    ]
    rows = [[title for _, title, _ in columns]]
    for result in results:
        rows.append(
            ["-" if result.get(key) is None else fmt.format(result[key]) for key, _, fmt in columns]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    for j, row in enumerate(rows):
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |")
        if j == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--credentials", type=int, default=30_000)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--outage", type=float, default=60)
    parser.add_argument("--sweep", type=int, default=5, help="SUNDOWN_SWEEP_SECONDS")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--verbose", action="store_true", help="print a timeline per run")
    args = parser.parse_args()
    scenarios = [s for s in args.scenarios.split(",") if s]
    assert set(scenarios) <= set(SCENARIOS), scenarios
    n = args.credentials
    args.prefix = f"sdchaos_{os.getpid()}_"
    names = [f"{args.prefix}{i}" for i in range(n)]
    other = [f"{args.prefix}other_{i}" for i in range(max(1, n // 30))]
    proxy = Proxy(5432)
    redis = Redis()
    results = []
    try:
        t = time.perf_counter()
        roles_sql(names + other, "CREATE ROLE %s LOGIN")
        django_on_fresh_database(DB)
        seed(names, other, proxy.port)
        copy_template(DB, TEMPLATE)
        print(
            f"set up {n:,} + {len(other):,} roles and credentials in {time.perf_counter() - t:.0f}s"
        )
        redis.start()
        for _ in range(args.runs):
            for scenario in scenarios:
                result = run(scenario, args, names, other, proxy, redis)
                results.append(result)
                print(result, flush=True)
        print()
        print(f"{n:,} credentials, 2 workers x concurrency 2, sweep every {args.sweep}s")
        table(results)
    finally:
        proxy.kill()
        redis.stop()
        roles_sql(names + other, "DROP ROLE IF EXISTS %s")
        drop_database(DB)
        drop_database(TEMPLATE)


if __name__ == "__main__":
    main()
