"""Schemathesis against the live schema: no 5xx, every response as documented.

The schema is fetched from /api/schema/ like a client would, and every operation
is called through Django's WSGI handler (inside the test's transaction, so the
generated writes vanish afterwards). Hypothesis runs with a fixed seed and a
bounded number of examples per operation, in positive and negative mode; half
of the path ids point at real objects so the handlers past the 404 get fuzzed too.
"""

import os

import hypothesis
import pytest
import schemathesis
from django.db import transaction
from django.test.client import ClientHandler
from hypothesis import HealthCheck
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from audit.actor import Actor
from audit.services import audit_record_standalone
from revocation.models import RevocationAttempt
from tests.api.conftest import make_world, token_client
from tests.factories import UserFactory
from vendors.permissions import role_grant

pytestmark = pytest.mark.django_db
SEED = 20261122
# Bounded for `make test`; SUNDOWN_FUZZ_SCALE=10 digs deeper by hand.
_SCALE = int(os.environ.get("SUNDOWN_FUZZ_SCALE", "1"))
EXAMPLES = {GenerationMode.POSITIVE: 12 * _SCALE, GenerationMode.NEGATIVE: 6 * _SCALE}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


class DjangoTestWSGI:
    """Django's test handler as a WSGI app: same thread, same connection, same transaction.

    The plain WSGIHandler would close the test's connection at request end.
    """

    def __init__(self):
        self.handler = ClientHandler(enforce_csrf_checks=True)
        self.seen = []  # (method, resource, status) of every call

    def __call__(self, environ, start_response):
        response = self.handler(environ)
        self.seen.append(
            (environ["REQUEST_METHOD"], environ["PATH_INFO"].split("/")[3], response.status_code)
        )
        headers = [(name, value) for name, value in response.items()]
        start_response(f"{response.status_code} {response.reason_phrase}", headers)
        return [response.content]


class _Rollback(Exception):
    pass


def _runner(strategy, checks, examples):
    @hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    @hypothesis.seed(SEED)
    @hypothesis.given(case=strategy)
    def run(case):
        try:
            with transaction.atomic():
                case.call_and_validate(checks=checks)
                raise _Rollback
        except _Rollback:
            pass

    return run


def _with_real_references(world):
    """Point the related-object fields of a body at objects the user may write to."""
    refs = {
        "agency": world["agency"].pk,
        "vendor": world["vendor"].pk,
        "system": world["system"].pk,
        "contracts": [world["contract"].pk],
    }

    def patch(case):
        if isinstance(case.body, dict):
            case.body = {**case.body, **{k: v for k, v in refs.items() if k in case.body}}
        return case

    return patch


def _real_ids(world, attempt, event) -> dict[str, int]:
    return {
        "agencies": world["agency"].pk,
        "vendors": world["vendor"].pk,
        "contracts": world["contract"].pk,
        "systems": world["system"].pk,
        "credentials": world["credential"].pk,
        "revocations": attempt.pk,
        "manual-tasks": world["task"].pk,
        "audit-events": event.seq,
        "vendor-evidence-packs": world["vendor"].pk,
        "contract-evidence-packs": world["contract"].pk,
    }


def test_schemathesis_no_5xx_and_schema_conformance(agency, settings):
    # Fuzzing is not a rate-limit test (test_tokens has that): lift the limit.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "1000000/min", "anon": "1000000/min"},
    }
    world = make_world(agency, "fuzz")
    attempt = RevocationAttempt.objects.create(
        credential=world["credential"],
        system=world["system"],
        connector="manual",
        worker="tests",
        attempt=1,
        outcome="error",
        started_at=world["task"].opened_at,
    )
    event = audit_record_standalone(
        actor=Actor.system("tests"), action="tests.seeded", agency_id=agency.pk
    )
    # One user holding every role, so requests get past the permission checks.
    user = UserFactory(username="fuzzer")
    for role in ("security_officer", "procurement"):
        role_grant(user=user, agency=agency, role=role)
    client = token_client(user)
    raw = client.get("/api/schema/?format=json").json()
    schema = schemathesis.openapi.from_dict(raw)
    schema.app = DjangoTestWSGI()
    headers = {"Authorization": f"Token {client.key}"}
    ids = _real_ids(world, attempt, event)

    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    failures = []
    for operation in operations:
        resource = operation.path.split("/")[3]
        param = next(iter(operation.path_parameters), None) if operation.path_parameters else None
        for mode, examples in EXAMPLES.items():
            strategies = [operation.as_strategy(generation_mode=mode, headers=headers)]
            if mode == GenerationMode.POSITIVE and operation.method.upper() != "GET":
                strategies.append(strategies[0].map(_with_real_references(world)))
            runs = [st.one_of(strategies)]
            if param is not None and mode == GenerationMode.POSITIVE:
                # Its own run, not a branch of one_of: which branches a seed draws moves
                # with every change to the schema, and the verbs must be reached each time.
                runs.append(
                    operation.as_strategy(
                        generation_mode=mode,
                        headers=headers,
                        path_parameters={param.name: ids[resource]},
                    )
                )
            for strategy in runs:
                try:
                    _runner(strategy, CHECKS, examples)()
                except Exception as exc:  # noqa: BLE001 - collect every operation's failure
                    failures.append(f"{operation.label} [{mode.value}]: {exc}")
    codes = {code for _, _, code in schema.app.seen}
    assert {200, 201, 202, 400, 404} <= codes, codes  # the fuzzing got past validation
    assert not failures, "\n\n".join(failures)
