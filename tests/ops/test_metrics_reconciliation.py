"""Reconciliation age per system and live findings by severity on the web's /metrics."""

import datetime as dt
import math

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from findings.models import Finding, ReconciliationRun
from tests.factories import SystemFactory

pytestmark = pytest.mark.django_db
TOKEN = "scrape-token-for-the-test-0123456789"


def scrape(settings) -> dict:
    settings.SUNDOWN_METRICS_TOKEN = TOKEN
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.content.decode())
        for s in family.samples
    }


def labels(system) -> frozenset:
    return frozenset(
        {
            ("agency", system.agency.slug),
            ("system", system.name),
            ("system_id", str(system.pk)),
            ("kind", system.kind),
        }
    )


def test_reconciliation_age_and_open_findings(settings, agency, django_assert_max_num_queries):
    now = timezone.now()
    reconciled = SystemFactory(agency=agency, name="crm", kind="postgres")
    never = SystemFactory(agency=agency, name="new-ldap", kind="ldap")
    manual = SystemFactory(agency=agency, name="paper", kind="manual")
    ReconciliationRun.objects.create(
        system=reconciled,
        trigger="tests",
        status="succeeded",
        queued_at=now - dt.timedelta(hours=3),
        finished_at=now - dt.timedelta(hours=2),
    )
    # A later failed pass does not make the system look reconciled.
    ReconciliationRun.objects.create(
        system=reconciled,
        trigger="tests",
        status="failed",
        queued_at=now - dt.timedelta(minutes=5),
        finished_at=now - dt.timedelta(minutes=4),
    )
    for n, (severity, status) in enumerate(
        [("critical", "open"), ("critical", "open"), ("high", "acknowledged"), ("high", "resolved")]
    ):
        Finding.objects.create(
            kind="orphan",
            severity=severity,
            status=status,
            system=reconciled,
            account=f"ghost{n}",
            first_seen_at=now,
            last_seen_at=now,
        )

    metrics = scrape(settings)
    age = metrics[("sundown_reconciliation_age_seconds", labels(reconciled))]
    assert 7100 < age < 7300
    assert math.isnan(metrics[("sundown_reconciliation_age_seconds", labels(never))])
    assert ("sundown_reconciliation_age_seconds", labels(manual)) not in metrics
    slug = agency.slug

    def found(severity, status):
        key = frozenset({("agency", slug), ("severity", severity), ("status", status)})
        return metrics.get(("sundown_findings_open", key))

    assert found("critical", "open") == 2
    assert found("high", "acknowledged") == 1
    assert found("high", "resolved") is None

    # Two aggregate queries whatever the number of systems.
    for n in range(30):
        SystemFactory(agency=agency, name=f"bulk-{n}", kind="redis")
    with django_assert_max_num_queries(30):
        assert (
            len([k for k in scrape(settings) if k[0] == "sundown_reconciliation_age_seconds"]) == 32
        )
