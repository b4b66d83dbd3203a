"""Acceptance, end to end through a real Celery worker (with beat), Redis, the test
database and real PostgreSQL roles: access that nobody vouches for ends by itself,
each revocation verified on the target and audited with the policy that caused it."""

import datetime as dt

import psycopg2
import pytest
from django.utils import timezone

from access.models import Credential
from audit.models import AuditEvent
from tests.factories import CredentialFactory
from tests.revocation.conftest import connect_as, role_can_login
from tests.revocation.helpers import Worker, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), Worker(beat=True) as shared:
        yield shared


def status_of(credential) -> str:
    return Credential.objects.get(pk=credential.pk).status


def events_of(credential, action):
    return AuditEvent.objects.filter(
        action=action, target_type="access.credential", target_id=str(credential.pk)
    )


def assert_revoked_naming(credential, name: str, *, trigger: str, policy: str):
    """Verified on the target, the vendor refused, one request naming the policy."""
    credential.refresh_from_db()
    assert credential.status == "revoked"
    assert role_can_login(name) is False
    with pytest.raises(psycopg2.OperationalError, match="not permitted to log in"):
        connect_as(name)
    request = events_of(credential, "credential.revocation_requested").get()
    assert request.after["trigger"] == trigger
    assert request.after["policy"]["name"] == policy
    revoked = events_of(credential, "credential.revoked").get()
    assert revoked.after["verified"] is True


def test_an_expired_expires_at_revokes_on_the_target(worker, vendor, pg_system, pg_roles):
    expiring, staying = pg_roles(2)
    soon = CredentialFactory(
        vendor=vendor,
        system=pg_system,
        external_id=expiring,
        expires_at=timezone.now() + dt.timedelta(seconds=2),
    )
    kept = CredentialFactory(
        vendor=vendor,
        system=pg_system,
        external_id=staying,
        expires_at=timezone.now() + dt.timedelta(days=30),
    )
    connect_as(expiring).close()  # the vendor gets in before
    wait_for(lambda: status_of(soon) == "revoked", timeout=40, message=worker.log)
    assert_revoked_naming(soon, expiring, trigger="expiry", policy="expiry")
    assert status_of(kept) == "active" and role_can_login(staying) is True
