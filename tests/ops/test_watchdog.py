"""The watchdog alerts once per incident, resolves on recovery, and alerts again next time."""

import datetime as dt

import pytest

from audit.models import AuditEvent
from ops import services
from ops.models import Heartbeat, Incident
from ops.selectors import db_now

pytestmark = pytest.mark.django_db


@pytest.fixture
def alerting(settings, officer):
    settings.SUNDOWN_SECURITY_ALERT_EMAILS = ["soc@agency.example"]
    officer.email = "officer@health.example"
    officer.save()


def _stale(seconds=300):
    services.heartbeat_record(name="sweep")
    Heartbeat.objects.filter(name="sweep").update(beat_at=db_now() - dt.timedelta(seconds=seconds))


def test_one_alert_per_incident_then_recovery_then_a_new_incident(alerting, mailoutbox):
    _stale()
    opened = services.watchdog_check(watcher="w1")
    assert opened is not None
    assert services.watchdog_check(watcher="w2") is None  # same incident: no second alert
    assert services.watchdog_check(watcher="w1") is None
    assert len(mailoutbox) == 1
    assert "sweep has stopped" in mailoutbox[0].subject
    assert sorted(mailoutbox[0].to) == ["officer@health.example", "soc@agency.example"]
    event = AuditEvent.objects.get(action="ops.incident_opened")
    assert event.target_id == str(opened.pk)
    assert event.actor_name == "system:watchdog w1"

    services.heartbeat_record(name="sweep")
    assert services.watchdog_check(watcher="w2") is None
    assert Incident.objects.get(pk=opened.pk).resolved_at is not None
    assert [m.subject for m in mailoutbox][1].startswith("[Sundown] Recovered")
    assert AuditEvent.objects.filter(action="ops.incident_resolved").count() == 1

    _stale()
    again = services.watchdog_check(watcher="w2")
    assert again is not None and again.pk != opened.pk
    assert len(mailoutbox) == 3
    assert "ALERT" in mailoutbox[2].subject


def test_a_sweep_that_never_ran_alerts_only_after_a_whole_threshold(alerting, mailoutbox):
    now = db_now()
    assert services.watchdog_check(watcher="w", watching_since=now) is None
    half = now - dt.timedelta(seconds=30)
    assert services.watchdog_check(watcher="w", watching_since=half) is None
    assert Incident.objects.count() == 0 and mailoutbox == []
    opened = services.watchdog_check(watcher="w", watching_since=now - dt.timedelta(seconds=61))
    assert opened is not None
    assert "No sweep has completed" in opened.detail
    assert len(mailoutbox) == 1


def test_only_one_incident_may_be_open_per_check(alerting):
    _stale()
    services.watchdog_check(watcher="w1")
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Incident.objects.create(check_name="sweep_stale", opened_at=db_now(), opened_by="x")


def test_nobody_to_alert_is_logged_not_raised(settings, caplog, mailoutbox):
    settings.SUNDOWN_SECURITY_ALERT_EMAILS = []
    _stale()
    assert services.watchdog_check(watcher="w") is not None
    assert mailoutbox == []
    assert "nobody is configured to be alerted" in caplog.text
