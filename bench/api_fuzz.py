"""schemathesis at depth against a real server: every check, every phase, seed 1337.

    .venv/bin/python bench/api_fuzz.py [--examples 200] [--seed 1337] [--keep] [--only REGEX]

Creates the PostgreSQL database ``sundown_bench_fuzz_<pid>`` on 127.0.0.1:5432, migrates it,
loads the demo data, gives a user every role of the "health" agency and an API token,
starts gunicorn on a free loopback port (production settings: DEBUG off) and runs
schemathesis's CLI as ``tests/api/fuzzing.py`` describes (``--checks all --phases
examples,coverage,fuzzing,stateful -n 200 --seed 1337``). It prints the command and
the counts (operations, test cases, server errors, schema violations, requests where
schema and behaviour disagree, other failures) and exits 1 unless all are 0.

``make test`` runs the same command with a few examples per operation
(tests/api/test_schemathesis.py); this is the deep run, by hand (tens of minutes).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._setup import ROOT, django_on_fresh_database, drop_database  # noqa: E402

# Per process: two checkouts may fuzz side by side on the shared PostgreSQL.
DB_NAME = f"sundown_bench_fuzz_{os.getpid()}"
os.environ.update(
    {
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        # The fuzzer sends thousands of requests: it is not a rate-limit test.
        "SUNDOWN_API_RATE": "100000000/min",
        "LOG_LEVEL": "ERROR",
        "SUNDOWN_AUDIT_SIGNING_KEY_AUTOCREATE": "1",
        # The demo's systems point at .invalid names, saved whatever the allowlist says.
        "SUNDOWN_TARGET_ALLOWLIST": "",
        "SUNDOWN_TARGET_ALLOW_OWN_SERVICES": "0",
    }
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed() -> tuple[str, dict[str, list[int]]]:
    import datetime as dt

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone

    from access.models import Credential, System
    from api.services import api_token_create
    from audit.actor import Actor
    from audit.models import AuditEvent
    from findings.models import Finding, ReconciliationRun, UsageEvent
    from reviews.models import ReviewCampaign, ReviewItem
    from revocation.models import ManualTask, RevocationAttempt
    from vendors.models import Agency, Contract, Vendor
    from vendors.permissions import ROLES, role_grant

    call_command("seed_demo", verbosity=0)
    agency = Agency.objects.get(slug="health")
    user = get_user_model().objects.create_user(username="fuzzer")
    for role in ROLES:
        role_grant(user=user, agency=agency, role=role)
    _, key = api_token_create(actor=Actor.system("bench"), user=user, name="api fuzz")
    credential = Credential.objects.filter(system__agency=agency).first()
    assert credential is not None
    # A revocation attempt and a manual task, so their detail pages have something to show.
    attempt = RevocationAttempt.objects.create(
        credential=credential,
        system=credential.system,
        connector=credential.system.kind,
        worker="bench",
        attempt=1,
        outcome="error",
        error="could not connect to the postgres system",
        started_at=credential.created_at,
    )
    task = ManualTask.objects.create(
        credential=credential,
        system=credential.system,
        reason=ManualTask.Reason.FAILED,
        detail="could not connect to the postgres system",
        opened_at=credential.created_at,
    )

    # Findings (two: the verbs use them up), a reconciliation run and a reported login,
    # so their detail pages and verbs reach past "not found" as the rest do.
    now = timezone.now()
    findings = [
        Finding.objects.create(
            kind="orphan",
            severity="high",
            system=credential.system,
            account=f"bench_orphan_{n}",
            first_seen_at=now,
            last_seen_at=now,
        ).pk
        for n in (1, 2)
    ]
    run = ReconciliationRun.objects.create(
        system=credential.system, trigger="bench", queued_at=now, status="succeeded"
    )
    usage = UsageEvent.objects.create(
        system=credential.system,
        event_id="bench-evt-1",
        account=credential.external_id,
        occurred_at=now,
        credential=credential,
        vendor=credential.vendor,
        received_at=now,
    )

    # A review campaign with two items (one waiting for the fuzzer's answer, one for
    # nobody's), so the review endpoints (added after the first deep runs) reach past
    # "not found" too; two campaigns, as closing one uses it up.
    campaigns = [
        ReviewCampaign.objects.create(
            agency=agency, name=f"Fuzz review {n}", deadline=now + dt.timedelta(days=7)
        )
        for n in (1, 2)
    ]
    credentials = list(Credential.objects.filter(system__agency=agency).order_by("pk")[:2])
    items = [
        ReviewItem.objects.create(campaign=campaigns[0], credential=credentials[0], reviewer=user),
        ReviewItem.objects.create(campaign=campaigns[0], credential=credentials[-1]),
    ]

    def pks(queryset, field="pk") -> list[int]:
        return list(queryset.order_by(field).values_list(field, flat=True)[:20])

    contracts = pks(Contract.objects.filter(vendor__agency=agency))
    vendors = pks(Vendor.objects.filter(agency=agency))
    ids = {
        "agencies": [agency.pk],
        "vendors": vendors,
        "contracts": contracts,
        "systems": pks(System.objects.filter(agency=agency)),
        "credentials": pks(Credential.objects.filter(system__agency=agency)),
        "revocations": [attempt.pk],
        "manual-tasks": [task.pk],
        "audit-events": pks(AuditEvent.objects.filter(agency_id=agency.pk), "seq"),
        "findings": findings,
        "reconciliation-runs": [run.pk],
        "usage-events": [usage.pk],
        "review-campaigns": [c.pk for c in campaigns],
        "review-items": [i.pk for i in items],
        "vendor-evidence-packs": vendors,
        "contract-evidence-packs": contracts,
    }
    return key, ids


def wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 - loopback
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument(
        "--only", metavar="REGEX", help="only the paths this matches (a re-run of a finding)"
    )
    args = parser.parse_args()

    django_on_fresh_database(DB_NAME)
    key, ids = seed()
    from django.db import connections

    connections.close_all()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    workdir = Path(tempfile.mkdtemp(prefix="sundown-fuzz-"))
    env = {**os.environ, "SUNDOWN_VAR_DIR": str(workdir / "var")}
    server = subprocess.Popen(  # noqa: S603
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        wait_for(f"{base_url}/healthz")
        from tests.api.fuzzing import run_schemathesis

        run = run_schemathesis(
            base_url=base_url,
            token=key,
            workdir=workdir,
            examples=args.examples,
            ids=ids,
            seed=args.seed,
            timeout=6 * 3600,
            only=args.only,
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
        if not args.keep:
            drop_database(DB_NAME)
    print("command:", " ".join(run.command))
    print(run.summary())
    print(f"report: {workdir / 'report.json'}  (full output: {workdir / 'output.txt'})")
    (workdir / "output.txt").write_text(run.output)
    return 0 if run.clean else 1


if __name__ == "__main__":
    sys.exit(main())
