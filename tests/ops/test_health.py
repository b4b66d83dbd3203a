"""/healthz, /readyz and /metrics against the real test database, cache and broker."""

import datetime as dt

import pytest
from django.test import override_settings

from audit.checkpoints import checkpoint_create
from ops.models import Heartbeat, Incident
from ops.services import heartbeat_record

pytestmark = pytest.mark.django_db


def _age(seconds: float) -> None:
    Heartbeat.objects.filter(name="sweep").update(
        beat_at=Heartbeat.objects.get(name="sweep").beat_at - dt.timedelta(seconds=seconds)
    )


def test_healthz_says_the_process_is_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_fails_before_any_sweep_completed(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["sweep"] == {"ok": False, "age_seconds": None, "limit_seconds": 60.0}
    assert body["checks"]["database"]["ok"] and body["checks"]["cache"]["ok"]
    assert body["checks"]["broker"]["ok"]


def test_readyz_passes_with_a_fresh_sweep_and_fails_when_it_is_stale(client):
    heartbeat_record(name="sweep", detail={"requested": 0})
    checkpoint_create(ship=False)
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["sweep"]["ok"] is True
    _age(61)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["sweep"]["age_seconds"] >= 61


def test_readyz_names_an_unreachable_broker_without_a_500(client, settings):
    from config.celery import app

    heartbeat_record(name="sweep")
    previous = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    try:
        response = client.get("/readyz")
    finally:
        app.conf.broker_url = previous
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False
    assert response.json()["checks"]["sweep"]["ok"] is True


def test_readyz_hit_is_a_watchdog_look(client, mailoutbox, settings):
    settings.SUNDOWN_SECURITY_ALERT_EMAILS = ["soc@agency.example"]
    heartbeat_record(name="sweep")
    _age(120)
    client.get("/readyz")
    client.get("/readyz")
    assert Incident.objects.filter(resolved_at__isnull=True).count() == 1
    assert len(mailoutbox) == 1


@override_settings(SUNDOWN_METRICS_TOKEN="metrics-token-0123456789")
def test_metrics_needs_the_bearer_token(client):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-token-0123456789")
    assert response.status_code == 200
    assert b"sundown_sweep_age_seconds" in response.content


def test_metrics_without_a_token_is_refused_outside_debug(client):
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


def test_readyz_fails_without_a_young_enough_signed_checkpoint(client, settings):
    heartbeat_record(name="sweep")
    body = client.get("/readyz").json()
    assert body["checks"]["checkpoint"]["ok"] is False
    assert body["checks"]["checkpoint"]["age_seconds"] is None
    checkpoint_create(ship=False)
    assert client.get("/readyz").status_code == 200
    settings.SUNDOWN_CHECKPOINT_STALE_SECONDS = 0
    # Checkpoints are append-only (no UPDATE to age one): lower the limit instead.
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["checkpoint"]["ok"] is False
    assert response.json()["checks"]["sweep"]["ok"] is True
