"""The audit page for auditors: they verify the chain, and they see the deployment-wide
events (sign-ins, second factors, chain checks) about the people of their agencies, so
seq has no unexplained gaps; nobody sees who signs in at another agency."""

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent, VerificationRun
from tests.factories import UserFactory
from tests.sessions import signed_in

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


def _sign_in(username, password=PASSWORD):
    return Client().post(reverse("login"), {"username": username, "password": password})


def test_auditors_see_sign_ins_of_their_agencies_only(
    auditor_client, officer, outsider, procurement
):
    for user in (officer, outsider, procurement):
        user.set_password(PASSWORD)
        user.save()
    _sign_in("clerk")
    _sign_in("outsider")
    _sign_in("clerk", "wrong password")
    _sign_in("nobody-here", "guess")
    events = {
        (e.action, e.target_repr)
        for e in AuditEvent.objects.filter(action__startswith="auth.", agency_id__isnull=True)
    }
    assert ("auth.login", "clerk") in events and ("auth.login", "outsider") in events

    page = auditor_client.get(reverse("audit_log"), {"action": "auth."}).content.decode()
    assert "clerk" in page
    assert "auth.login_failed" in page  # the clerk's failed attempt, by user name
    assert "outsider" not in page  # another agency's person
    assert "nobody-here" not in page  # about nobody in particular: superusers only

    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    page = signed_in(admin).get(reverse("audit_log"), {"action": "auth."}).content.decode()
    assert "outsider" in page and "nobody-here" in page


def test_gaps_are_explained(auditor_client, officer, outsider):
    outsider.set_password(PASSWORD)
    outsider.save()
    from audit.actor import Actor
    from vendors.services import vendor_create

    vendor_create(actor=Actor.for_user(officer), agency=officer_agency(officer), name="Before")
    _sign_in("outsider")
    _sign_in("outsider")
    vendor_create(actor=Actor.for_user(officer), agency=officer_agency(officer), name="After")
    page = auditor_client.get(reverse("audit_log"), {"action": "vendor."}).content.decode()
    assert 'data-testid="audit-gap"' in page
    assert "2 events not shown here" in page


def officer_agency(user):
    from vendors.permissions import agencies_for

    return agencies_for(user).get()


def test_the_auditor_verifies_the_chain(auditor_client, procurement_client):
    page = auditor_client.get(reverse("audit_log")).content.decode()
    assert "Verify the chain now" in page
    response = auditor_client.post(reverse("audit_verify"), follow=True)
    assert "Audit chain verified" in response.content.decode()
    run = VerificationRun.objects.get()
    assert run.ok
    event = AuditEvent.objects.get(action="audit.chain_verified")
    assert event.actor_name == "auditor" and event.agency_id is None
    # ...and sees that event, which belongs to no agency.
    assert "audit.chain_verified" in auditor_client.get(reverse("audit_log")).content.decode()
    assert procurement_client.post(reverse("audit_verify")).status_code == 404
