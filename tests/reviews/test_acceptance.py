"""Acceptance, end to end through a real Celery worker (with beat), Redis, the test
database and real PostgreSQL roles: access that nobody vouches for ends by itself,
each revocation verified on the target and audited with the policy that caused it."""

import datetime as dt

import psycopg2
import pytest
from django.utils import timezone

from access.models import Credential
from audit.actor import Actor
from audit.models import AuditEvent
from reviews.models import ReviewCampaign, ReviewItem
from reviews.services import review_campaign_open, review_items_decide
from tests.factories import CredentialFactory
from tests.revocation.conftest import connect_as, role_can_login
from tests.revocation.helpers import Worker, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# Beat looks at reviews (deadlines) every second.
FAST = {"SUNDOWN_REVIEW_CHECK_SECONDS": 1}


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), Worker(beat=True, env=FAST) as shared:
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


def test_a_campaign_past_its_deadline_revokes_its_unanswered_items(
    worker, agency, vendor, pg_system, pg_roles
):
    kept_name, revoked_name, silent_name = pg_roles(3)
    rows = {
        name: CredentialFactory(vendor=vendor, system=pg_system, external_id=name)
        for name in (kept_name, revoked_name, silent_name)
    }
    campaign = review_campaign_open(
        actor=Actor.system("test"),
        agency=agency,
        name="Quarterly",
        scope="vendor",
        vendor=vendor,
        deadline=timezone.now() + dt.timedelta(seconds=3),
    )
    items = {i.credential.external_id: i for i in campaign.items.select_related("credential")}
    reviewer = Actor.system("reviewer")
    review_items_decide(
        actor=reviewer, items=[items[kept_name].pk], decision="keep", reason="On call"
    )
    review_items_decide(actor=reviewer, items=[items[revoked_name].pk], decision="revoke")
    # Beat closes the campaign at its deadline; the worker revokes on the target.
    wait_for(
        lambda: (
            status_of(rows[silent_name]) == "revoked" and status_of(rows[revoked_name]) == "revoked"
        ),
        timeout=40,
        message=worker.log,
    )
    assert ReviewCampaign.objects.get(pk=campaign.pk).status == "closed"
    assert ReviewItem.objects.get(pk=items[silent_name].pk).decision == "lapsed"
    assert_revoked_naming(rows[silent_name], silent_name, trigger="review", policy="review")
    assert_revoked_naming(rows[revoked_name], revoked_name, trigger="review", policy="review")
    silent = events_of(rows[silent_name], "credential.revocation_requested").get()
    assert silent.after["policy"] == {
        "name": "review",
        "campaign": campaign.pk,
        "decision": "no_answer",
    }
    assert status_of(rows[kept_name]) == "active" and role_can_login(kept_name) is True
    assert (
        AuditEvent.objects.filter(
            action="review.campaign_closed", target_id=str(campaign.pk)
        ).count()
        == 1
    )


def test_a_contact_marking_one_person_gone_revokes_exactly_their_credentials(
    worker, vendor, pg_system, pg_roles
):
    import re

    from django.core import mail
    from django.test import Client, TestCase
    from django.urls import reverse

    from reviews.attestation import attestation_send
    from vendors.models import Vendor

    gone_a, gone_b, staying = pg_roles(3)
    Vendor.objects.filter(pk=vendor.pk).update(security_contact_email="sec@vendor.example")
    vendor.refresh_from_db()
    rows = {
        gone_a: CredentialFactory(
            vendor=vendor, system=pg_system, external_id=gone_a, holder="Eve"
        ),
        gone_b: CredentialFactory(
            vendor=vendor, system=pg_system, external_id=gone_b, holder="Eve"
        ),
        staying: CredentialFactory(
            vendor=vendor, system=pg_system, external_id=staying, holder="Max"
        ),
    }
    with TestCase.captureOnCommitCallbacks(execute=True):
        attestation_send(actor=Actor.system("test"), vendor=vendor)
    token = re.search(r"/attest/([^/\s]+)/", mail.outbox[-1].body).group(1)
    page = reverse("attestation_page", args=[token])
    client = Client()
    assert client.get(page).status_code == 200
    # Eve is first on the roster (sorted by name), Max second.
    with TestCase.captureOnCommitCallbacks(execute=True):
        done = client.post(page, {"person-0": "left", "person-1": "stays"})
    assert done.status_code == 200
    wait_for(
        lambda: status_of(rows[gone_a]) == "revoked" and status_of(rows[gone_b]) == "revoked",
        timeout=40,
        message=worker.log,
    )
    for name in (gone_a, gone_b):
        assert_revoked_naming(rows[name], name, trigger="attestation", policy="attestation")
    assert status_of(rows[staying]) == "active" and role_can_login(staying) is True
    connect_as(staying).close()
    assert client.get(page).status_code == 410  # the link is spent
