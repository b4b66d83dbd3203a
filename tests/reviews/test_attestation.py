"""Vendor roster attestation: the link (signed, hashed, single use, expiring, rate
limited), the page (this vendor's people only), departures, missed deadlines."""

import datetime as dt
import re
import time

import pytest
from django.core import mail, signing
from django.core.cache import cache
from django.test import Client, TestCase
from django.urls import reverse

from access.models import Credential
from audit.actor import Actor
from audit.models import AuditEvent
from reviews import attestation as attestation_module
from reviews.attestation import attestation_send, attestations_due, token_hash
from reviews.models import RosterAttestation
from tests.factories import CredentialFactory, SystemFactory, VendorFactory
from vendors.models import Vendor

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("test")


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()  # rate limits and the failure budget live there
    yield
    cache.clear()


@pytest.fixture
def roster(agency):
    vendor = VendorFactory(
        agency=agency,
        name="Acme",
        security_contact_name="Sam Sec",
        security_contact_email="security@acme.example",
    )
    other = VendorFactory(agency=agency, name="Other Corp")
    system = SystemFactory(agency=agency, name="tax-db")
    creds = {
        "ann": [
            CredentialFactory(vendor=vendor, system=system, holder="Ann", external_id=f"ann_{i}")
            for i in range(2)
        ],
        "bob": [CredentialFactory(vendor=vendor, system=system, holder="Bob", external_id="bob_1")],
        "other": [
            CredentialFactory(vendor=other, system=system, holder="Ann", external_id="stranger")
        ],
    }
    return vendor, creds


def send(vendor) -> tuple[RosterAttestation, str]:
    """Send a link; return it and the token from the mail (the only place it exists)."""
    mail.outbox.clear()
    with TestCase.captureOnCommitCallbacks(execute=True):
        attestation = attestation_send(actor=ACTOR, vendor=vendor)
    (message,) = mail.outbox
    assert message.to == ["security@acme.example"]
    token = re.search(r"/attest/([^/\s]+)/", message.body).group(1)
    return attestation, token


def url(token: str) -> str:
    return reverse("attestation_page", args=[token])


def status_of(credentials) -> set[str]:
    return set(
        Credential.objects.filter(pk__in=[c.pk for c in credentials]).values_list(
            "status", flat=True
        )
    )


def test_only_a_hash_of_the_token_is_stored_and_the_page_shows_this_vendor_only(roster):
    vendor, creds = roster
    attestation, token = send(vendor)
    attestation.refresh_from_db()
    assert attestation.token_hash == token_hash(token)
    for row in RosterAttestation.objects.values():
        assert token not in str(row)
    for event in AuditEvent.objects.all():
        assert token not in f"{event.before}{event.after}{event.target_repr}"
    response = Client().get(url(token))
    assert response.status_code == 200
    # Not no-referrer: a browser would then POST the form with "Origin: null", which the
    # CSRF check refuses (the axe walk in tests/e2e submits it in Chromium).
    assert response["Referrer-Policy"] == "same-origin"
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    for name in ("Ann", "Bob", "ann_0", "ann_1", "bob_1"):
        assert name in html
    assert "stranger" not in html and "Other Corp" not in html
    viewed = AuditEvent.objects.get(action="attestation.viewed")
    assert viewed.actor_name.startswith("vendor contact security@acme.example")


def test_marking_one_person_gone_revokes_exactly_their_credentials_and_spends_the_link(roster):
    vendor, creds = roster
    _, token = send(vendor)
    client = Client()
    incomplete = client.post(url(token), {"person-0": "left"})
    assert incomplete.status_code == 400 and status_of(creds["ann"]) == {"active"}
    done = client.post(url(token), {"person-0": "left", "person-1": "stays"})
    assert done.status_code == 200 and "1 person(s)" in done.content.decode()
    assert status_of(creds["ann"]) == {"pending"}
    assert status_of(creds["bob"]) == {"active"}
    assert status_of(creds["other"]) == {"active"}  # the same name at another vendor
    for credential in creds["ann"]:
        event = AuditEvent.objects.get(
            action="credential.revocation_requested", target_id=str(credential.pk)
        )
        assert event.after["trigger"] == "attestation"
        assert event.after["policy"]["name"] == "attestation"
        assert event.after["policy"]["outcome"] == "left"
        assert event.after["policy"]["holder"] == "Ann"
    completed = AuditEvent.objects.get(action="attestation.completed")
    assert completed.after["left"] == ["Ann"] and completed.after["stays"] == ["Bob"]
    # Single use: neither the page nor another answer works again.
    assert client.get(url(token)).status_code == 410
    again = client.post(url(token), {"person-0": "stays", "person-1": "left"})
    assert again.status_code == 410 and status_of(creds["bob"]) == {"active"}
    refused = AuditEvent.objects.filter(action="attestation.link_refused")
    assert [e.after["reason"] for e in refused] == ["used", "used"]
    assert refused[0].agency_id == vendor.agency_id


def test_a_guessed_or_altered_link_is_refused_and_spends_the_failure_budget(roster, settings):
    vendor, _ = roster
    _, token = send(vendor)
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    guessed = signing.dumps("guess", salt="not-the-salt")
    for bad in (altered, guessed, "x" * 40):
        response = Client().get(url(bad))
        assert response.status_code == 404
        assert "Acme" not in response.content.decode()
    refusals = AuditEvent.objects.filter(action="attestation.link_refused")
    assert [e.after["reason"] for e in refusals] == ["invalid"] * 3
    assert all(e.agency_id is None for e in refusals)
    # Past the address's failure budget, even the right link waits.
    settings.SUNDOWN_AUTH_FAILURES_PER_ADDRESS = 3
    assert Client().get(url(token)).status_code == 429


def test_a_link_past_its_expiry_is_refused(roster, monkeypatch):
    vendor, creds = roster
    attestation, token = send(vendor)
    RosterAttestation.objects.filter(pk=attestation.pk).update(
        expires_at=attestation.sent_at - dt.timedelta(seconds=1)
    )
    assert Client().post(url(token), {"person-0": "left", "person-1": "left"}).status_code == 410
    assert status_of(creds["ann"] + creds["bob"]) == {"active"}
    # The signature expires on its own too, whatever the row says.
    _, fresh = send(vendor)
    later = time.time() + 9 * 86400
    monkeypatch.setattr(signing.time, "time", lambda: later)
    with pytest.raises(attestation_module.LinkRefused, match="expired"):
        attestation_module.attestation_for_token(fresh)


def test_a_new_link_supersedes_the_old_one(roster):
    vendor, _ = roster
    _, first = send(vendor)
    _, second = send(vendor)
    assert Client().get(url(first)).status_code == 410
    assert Client().get(url(second)).status_code == 200


def test_the_page_is_rate_limited_per_address(roster, settings):
    settings.SUNDOWN_ATTESTATION_RATE = 3
    vendor, _ = roster
    _, token = send(vendor)
    client = Client()
    assert [client.get(url(token)).status_code for _ in range(4)] == [200, 200, 200, 429]


def test_beat_sends_due_links_once_per_period(roster, agency):
    vendor, _ = roster
    VendorFactory(agency=agency, security_contact_email="x@idle.example")  # no access: no mail
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert attestations_due(actor=ACTOR) == (1, 0)
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["security@acme.example"]
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert attestations_due(actor=ACTOR) == (0, 0)


def test_a_missed_attestation_alerts_by_default(roster, officer, settings):
    vendor, creds = roster
    attestation, _ = send(vendor)
    RosterAttestation.objects.filter(pk=attestation.pk).update(
        expires_at=attestation.sent_at - dt.timedelta(seconds=1)
    )
    mail.outbox.clear()
    with TestCase.captureOnCommitCallbacks(execute=True):
        sent, missed = attestations_due(actor=ACTOR)
    assert missed == 1
    attestation.refresh_from_db()
    assert attestation.status == "missed"
    assert status_of(creds["ann"] + creds["bob"]) == {"active"}
    alert = next(m for m in mail.outbox if "missed" in m.subject)
    assert officer.email in alert.to and "Nothing was revoked" in alert.body
    event = AuditEvent.objects.get(action="attestation.missed")
    assert event.after["on_missed"] == "alert" and event.after["revoked"] == []


def test_a_missed_attestation_revokes_and_suspends_when_configured(roster, settings):
    settings.SUNDOWN_ATTESTATION_ON_MISSED = "revoke"
    vendor, creds = roster
    attestation, _ = send(vendor)
    RosterAttestation.objects.filter(pk=attestation.pk).update(
        expires_at=attestation.sent_at - dt.timedelta(seconds=1)
    )
    attestations_due(actor=ACTOR)
    assert status_of(creds["ann"] + creds["bob"]) == {"pending"}
    assert status_of(creds["other"]) == {"active"}
    assert Vendor.objects.get(pk=vendor.pk).status == "suspended"
    event = AuditEvent.objects.filter(action="credential.revocation_requested").first()
    assert event.after["policy"] == {
        "name": "attestation",
        "attestation": attestation.pk,
        "outcome": "missed",
    }
