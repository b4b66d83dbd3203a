"""schemathesis's CLI with every check and every phase (stateful included) against the API.

The server is pytest-django's live server on this run's test database; the command and
how its answer is counted are in tests/api/fuzzing.py. A few examples per operation
keep it inside the suite's budget; ``bench/api_fuzz.py`` runs the same command with 200
and more against gunicorn (``SUNDOWN_FUZZ_EXAMPLES=200`` does the same here).
"""

import os

import pytest
from django.utils import timezone

from api.services import api_token_create
from audit.actor import Actor
from audit.services import audit_record_standalone
from findings.models import Finding
from revocation.models import ManualTask, RevocationAttempt
from tests.api.conftest import make_world
from tests.api.fuzzing import run_schemathesis
from tests.factories import ContractFactory, UserFactory, VendorFactory
from vendors.permissions import ROLES, role_grant

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
EXAMPLES = int(os.environ.get("SUNDOWN_FUZZ_EXAMPLES", "3"))
# The coverage phase's boundary cases (some 2,400, whatever the examples) are the deep
# run's (bench/api_fuzz.py); here: the schema's examples, fuzzing and the stateful phase.
PHASES = os.environ.get("SUNDOWN_FUZZ_PHASES", "examples,fuzzing,stateful")


def _ids(agency) -> dict[str, list[int]]:
    """Objects of every resource in ``agency``, two of the kinds the verbs use up."""
    world = make_world(agency, "fuzz")
    second = VendorFactory(agency=agency, name="fuzz Second Vendor")
    contracts = [world["contract"], ContractFactory(vendor=second, reference="fuzz-C2")]
    attempt = RevocationAttempt.objects.create(
        credential=world["credential"],
        system=world["system"],
        connector="manual",
        worker="tests",
        attempt=1,
        outcome="error",
        error="could not connect to the manual system",
        started_at=timezone.now(),
    )
    failed = ManualTask.objects.create(
        credential=world["credential"],
        system=world["system"],
        reason=ManualTask.Reason.FAILED,
        detail="could not connect to the manual system",
        opened_at=timezone.now(),
    )
    event = audit_record_standalone(
        actor=Actor.system("tests"), action="tests.seeded", agency_id=agency.pk
    )
    second_finding = Finding.objects.create(
        kind="orphan",
        severity="high",
        system=world["system"],
        account="fuzz_orphan_2",
        first_seen_at=timezone.now(),
        last_seen_at=timezone.now(),
    )
    vendors = [world["vendor"].pk, second.pk]
    return {
        "agencies": [agency.pk],
        "vendors": vendors,
        "contracts": [c.pk for c in contracts],
        "systems": [world["system"].pk],
        "credentials": [world["credential"].pk],
        "revocations": [attempt.pk],
        "manual-tasks": [world["task"].pk, failed.pk],
        "audit-events": [event.seq],
        "findings": [world["finding"].pk, second_finding.pk],
        "reconciliation-runs": [world["run"].pk],
        "usage-events": [world["usage_event"].pk],
        "review-campaigns": [world["campaign"].pk],
        "review-items": [world["item"].pk],
        "vendor-evidence-packs": vendors,
        "contract-evidence-packs": [c.pk for c in contracts],
    }


def test_every_check_every_phase(live_server, agency, settings, tmp_path):
    # Fuzzing is not a rate-limit test (test_tokens has that): lift the limit.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "1000000/min", "anon": "1000000/min"},
    }
    ids = _ids(agency)
    user = UserFactory(username="fuzzer")
    for role in ROLES:  # every permission, so requests get past the permission checks
        role_grant(user=user, agency=agency, role=role)
    _, key = api_token_create(actor=Actor.system("tests"), user=user, name="fuzz")

    run = run_schemathesis(
        base_url=live_server.url,
        token=key,
        workdir=tmp_path,
        examples=EXAMPLES,
        phases=PHASES,
        ids=ids,
    )

    report = f"{' '.join(run.command)}\n{run.summary()}\n\n{run.output[-20000:]}"
    assert run.operations >= 25, report
    assert run.cases >= 2 * EXAMPLES * run.operations, report
    assert run.clean, report
