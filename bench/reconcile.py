"""Reconciliation of one PostgreSQL target with 100,000 roles, end to end.

    .venv/bin/python bench/reconcile.py [--roles 100000] [--orphans 0.10] [--drifted 0.01]

Starts a private PostgreSQL cluster (initdb on a free loopback port, so the shared
server's role catalog, which every test run reads, never holds the bench's roles)
and creates N LOGIN roles there. A fresh bench database on the shared server holds
one vendor, one contract and a credential for every role except the orphans (seen on
the target at registration, as the registration check records); the drifted share is
registered as verified revoked although the role can log in.

Then one reconciliation pass does what the beat's would, in this process: list every
role with its sessions (one catalog read), compare with the registry, open a finding
per orphan and per drifted credential (audited), send the drifted ones back to
revocation (trigger drift), stamp last_seen_on_target_at on every registered one and
record the run. A second pass shows the steady state (everything already known).
Printed next to the yardstick from the same run: the bare catalog read, the same
query with psycopg2 and no Sundown.

While the first pass runs, a probe in another process (``--probe-child``) does what
other writers do, each in its own thread and connection, in a
loop with a 20 ms pause: an ``audit_record_standalone`` (a login, a denial: any append
to the chain) and a revocation batch's write (one of the credentials the pass writes
updated and audited in one transaction). It prints how long each waited at most while
the pass ran, next to the same figures with no pass running: what a pass costs
everyone else.
"""

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg2
from _setup import django_on_fresh_database, drop_database

DB = "sundown_bench_reconcile"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bin(name: str) -> str:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: p.parent.name)
    for folder in reversed(versions):
        if (folder / name).exists():
            return str(folder / name)
    found = shutil.which(name)
    if not found:
        raise SystemExit(f"{name} not found (PostgreSQL server binaries)")
    return found


class Cluster:
    """A throwaway PostgreSQL cluster on loopback (trust auth, user postgres)."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="sundown-bench-pg-"))
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0

    def _run(self, *cmd):
        if self.as_postgres:  # initdb refuses root
            cmd = ("runuser", "-u", "postgres", "--", *cmd)
        subprocess.run(cmd, check=True, capture_output=True)

    def start(self) -> "Cluster":
        if self.as_postgres:
            shutil.chown(self.dir, "postgres")
        data = self.dir / "data"
        self._run(pg_bin("initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync")
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=50"
        )
        log = self.dir / "log"
        self._run(pg_bin("pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "start")
        return self

    def stop(self) -> None:
        try:
            self._run(pg_bin("pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def connect(self):
        conn = psycopg2.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres"
        )
        conn.autocommit = True
        return conn


def create_roles(cluster: Cluster, names: list[str]) -> None:
    conn = cluster.connect()
    with conn.cursor() as cursor:
        for i in range(0, len(names), 2000):
            chunk = names[i : i + 2000]
            cursor.execute(
                "BEGIN; " + "; ".join(f'CREATE ROLE "{n}" LOGIN' for n in chunk) + "; COMMIT"
            )
    conn.close()


def catalog_read(cluster: Cluster) -> tuple[float, int]:
    """The yardstick: the bare read of every role, no Sundown."""
    conn = cluster.connect()
    started = time.perf_counter()
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT rolname, rolcanlogin, rolsuper FROM pg_roles WHERE rolname !~ '^pg_'"
        )
        rows = cursor.fetchall()
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed, len(rows)


def seed(port: int, names: list[str], orphans: int, drifted: int):
    from django.utils import timezone

    from access.crypto import encrypt
    from access.models import Credential, System
    from vendors.models import Agency, Contract, Vendor

    agency = Agency.objects.create(name="Bench agency", slug="bench")
    vendor = Vendor.objects.create(agency=agency, name="Bench vendor")
    today = timezone.localdate()
    contract = Contract.objects.create(
        vendor=vendor,
        reference="BENCH-1",
        start_date=today,
        end_date=today.replace(year=today.year + 1),
        access_ends_at=timezone.now().replace(year=today.year + 1),
    )
    system = System.objects.create(
        agency=agency,
        name="bench-pg",
        kind="postgres",
        config={"host": "127.0.0.1", "port": port, "user": "postgres", "dbname": "postgres"},
        secret_encrypted=encrypt("unused-under-trust"),
    )
    registered = names[orphans:]
    now = timezone.now()
    rows = [
        Credential(
            vendor=vendor,
            system=system,
            kind="database_role",
            external_id=name,
            status="revoked" if i < drifted else "active",
            revoked_at=now if i < drifted else None,
            revoked_by="bench" if i < drifted else "",
            # What registration's presence check records (revocation.services.presence).
            last_seen_on_target_at=now,
            target_checked_at=now,
        )
        for i, name in enumerate(registered)
    ]
    created = Credential.objects.bulk_create(rows, batch_size=5000)
    link = Credential.contracts.through
    link.objects.bulk_create(
        [link(credential_id=c.pk, contract_id=contract.pk) for c in created], batch_size=10000
    )
    return system


def one_pass(system):
    from audit.actor import Actor
    from findings.reconciliation import reconciliation_request, reconciliation_run

    actor = Actor.system("bench")
    started = time.perf_counter()
    run, _ = reconciliation_request(actor=actor, system=system, trigger="bench", enqueue=False)
    run = reconciliation_run(run_id=run.pk, actor=actor)
    return time.perf_counter() - started, run


def probe_child(ids: list[int]) -> None:
    """The other writers (see the docstring): run until stdin closes; "pass" on stdin
    starts the samples taken while the pass runs; prints them as JSON."""
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DB}"
    import django

    django.setup()
    from django.db import transaction
    from django.db.models.functions import Now

    from access.models import Credential
    from audit.actor import Actor
    from audit.services import audit_record, audit_record_standalone

    actor = Actor.system("bench-probe")
    phase = ["idle"]
    stop = threading.Event()

    def read_stdin():
        for line in sys.stdin:
            phase[0] = line.strip()
        stop.set()

    samples: dict[str, dict[str, list[float]]] = {"idle": {}, "pass": {}}

    def timed(name, call):
        started = time.perf_counter()
        call()
        samples[phase[0]].setdefault(name, []).append(time.perf_counter() - started)

    def append():
        audit_record_standalone(actor=actor, action="bench.probe")

    def batch_write():
        pk = random.choice(ids)
        with transaction.atomic():
            Credential.objects.filter(pk=pk).update(updated_at=Now())
            audit_record(actor=actor, action="bench.probe", target=("access.credential", pk, ""))

    def loop(name, call):
        # Each writer in its own thread (its own connection): one blocked on the pass
        # must not hide how long the other waits.
        from django.db import connection

        while not stop.is_set():
            timed(name, call)
            time.sleep(0.02)
        connection.close()

    append()
    batch_write()
    threading.Thread(target=read_stdin, daemon=True).start()
    print("ready", flush=True)
    writers = [
        threading.Thread(target=loop, args=("append", append)),
        threading.Thread(target=loop, args=("batch", batch_write)),
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    print(json.dumps(samples), flush=True)


class Probe:
    """Starts ``probe_child`` in another process; ``report()`` after ``stop()``."""

    def __init__(self, ids: list[int]):
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--probe-child", ",".join(map(str, ids))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None and self.process.stdin is not None
        if self.process.stdout.readline().strip() != "ready":
            raise SystemExit("the probe did not start")
        time.sleep(2)  # a couple of seconds of samples with no pass running

    def passing(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("pass\n")
        self.process.stdin.flush()

    def stop(self) -> dict:
        out, _ = self.process.communicate(timeout=120)
        return json.loads(out.strip().splitlines()[-1])


def waits(samples: dict) -> str:
    parts = []
    for phase in ("pass", "idle"):
        for name, label in (("append", "audit append"), ("batch", "credential + audit")):
            values = sorted(samples[phase].get(name, []))
            if values:
                parts.append(
                    f"{label} {phase}: max {values[-1] * 1000:.0f} ms, "
                    f"median {values[len(values) // 2] * 1000:.0f} ms ({len(values)})"
                )
    return "; ".join(parts)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--roles", type=int, default=100_000)
    parser.add_argument("--orphans", type=float, default=0.10)
    parser.add_argument("--drifted", type=float, default=0.01)
    parser.add_argument("--no-probe", action="store_true", help="no other writers")
    parser.add_argument("--probe-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe_child:
        probe_child([int(pk) for pk in args.probe_child.split(",")])
        return
    orphans = int(args.roles * args.orphans)
    drifted = int(args.roles * args.drifted)
    names = [f"bench_{i:07d}" for i in range(args.roles)]
    cluster = Cluster().start()
    try:
        t0 = time.perf_counter()
        create_roles(cluster, names)
        print(f"set-up: {args.roles} roles created in {time.perf_counter() - t0:.1f} s")
        django_on_fresh_database(DB)
        system = seed(cluster.port, names, orphans, drifted)
        print(
            f"registry: {args.roles - orphans} credentials ({drifted} verified revoked but "
            f"LOGIN on the target), {orphans} roles registered nowhere"
        )
        raw, listed = catalog_read(cluster)
        probe = None
        if not args.no_probe:
            # Credentials the first pass writes (the drifted ones), else any of the system.
            ids = list(
                system.credentials.order_by("-status", "pk").values_list("pk", flat=True)[:1000]
            )
            probe = Probe(ids)
            probe.passing()
        first, run = one_pass(system)
        probed = probe.stop() if probe else None
        second, steady = one_pass(system)
        raw_again, _ = catalog_read(cluster)

        from django.db.models import Count

        from findings.models import Finding

        kinds = dict(
            Finding.objects.filter(system=system)
            .values_list("kind")
            .annotate(n=Count("id"))
            .values_list("kind", "n")
        )
        pending = system.credentials.filter(status="pending").count()
        print(
            f"yardstick: bare catalog read of {listed} roles (psycopg2, no Sundown): "
            f"{raw * 1000:.0f} ms (again after the passes: {raw_again * 1000:.0f} ms)"
        )
        by_kind = ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items()))
        print(
            f"first pass:  {first:.2f} s for {run.accounts} accounts: {run.matched} registered, "
            f"{run.orphans} orphans, {run.drifted} drifted, {run.not_found} not found; "
            f"{run.findings_opened} findings opened ({by_kind}); "
            f"{pending} credentials back to pending (trigger drift); status {run.status}"
        )
        print(
            f"second pass: {second:.2f} s, {steady.findings_opened} findings opened, "
            f"{steady.drifted} drifted (steady state); status {steady.status}"
        )
        print(f"ratio: first pass / bare catalog read = {first / raw:.0f}x")
        if probed:
            print(f"other writers during the first pass (another process): {waits(probed)}")
    finally:
        try:
            drop_database(DB)
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
