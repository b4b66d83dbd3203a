"""Metrics and logs of a real revocation: a worker revokes a PostgreSQL role, then the
worker's metrics endpoint and the web's /metrics are scraped over HTTP like Prometheus
does, and the worker's JSON log is read back."""

import datetime as dt
import json
import urllib.error
import urllib.request

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from access.models import Credential
from tests.factories import ContractFactory, CredentialFactory
from tests.revocation.conftest import role_can_login
from tests.revocation.helpers import Worker, free_port, wait_for
from vendors.models import Contract

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
TOKEN = "scrape-token-for-the-test-0123456789"


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(port: int, token: str | None = TOKEN) -> str:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.read().decode()


def test_metrics_after_a_real_revocation(settings, vendor, pg_system, pg_roles):
    settings.SUNDOWN_METRICS_TOKEN = TOKEN
    port = free_port()
    env = {
        "SUNDOWN_WORKER_METRICS_PORT": port,
        "SUNDOWN_METRICS_TOKEN": TOKEN,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
    }
    (name,) = pg_roles(1)
    contract = ContractFactory(vendor=vendor)
    Contract.objects.filter(pk=contract.pk).update(
        access_ends_at=timezone.now() + dt.timedelta(seconds=1)
    )
    credential = CredentialFactory(
        vendor=vendor, system=pg_system, external_id=name, contracts=[contract]
    )
    with Worker(beat=True, env=env) as worker:
        wait_for(
            lambda: Credential.objects.get(pk=credential.pk).status == "revoked",
            timeout=60,
            message=worker.log,
        )
        assert role_can_login(name) is False

        with pytest.raises(urllib.error.HTTPError) as refused:
            scrape(port, token=None)
        assert refused.value.code == 401
        # Counted after commit in a prefork child, summed by the worker's main process.
        got = wait_for(
            lambda: samples(scrape(port)).get(
                ("sundown_revocation_latency_seconds_count", frozenset({("kind", "postgres")}))
            ),
            timeout=10,
        )
        worker_metrics = samples(scrape(port))
        log = worker.log()

    assert got == 1.0
    latency = worker_metrics[
        ("sundown_revocation_latency_seconds_sum", frozenset({("kind", "postgres")}))
    ]
    # From the contract's end (a second after it was created) to verified: seconds.
    assert 0 < latency < 60, latency
    assert (
        worker_metrics[
            (
                "sundown_revocation_attempts_total",
                frozenset({("kind", "postgres"), ("outcome", "success")}),
            )
        ]
        == 1.0
    )

    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    web = samples(response.content.decode())
    labels = frozenset(
        {
            ("agency", pg_system.agency.slug),
            ("system", pg_system.name),
            ("system_id", str(pg_system.pk)),
            ("kind", "postgres"),
            ("status", "revoked"),
        }
    )
    assert web[("sundown_credentials", labels)] == 1.0
    assert web[("sundown_sweep_age_seconds", frozenset())] < 30

    # The worker logged JSON, one object per line, with the batch's context; no secret.
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    batch = [r for r in records if "claimed 1, revoked 1" in r["message"]]
    assert batch, log[-3000:]
    assert batch[0]["system"] == pg_system.pk and batch[0]["agency"] == pg_system.agency_id
    assert batch[0]["request_id"]  # the task's id
    assert "unused-under-trust" not in log  # the system's connection secret
