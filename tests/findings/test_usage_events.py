"""POST /api/v1/usage-events/: logins reported by log shippers, and the rules they meet."""

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from access.models import Credential
from audit.actor import Actor
from audit.models import AuditEvent
from findings.attribution import account_pattern_add, vendor_network_add
from findings.models import Finding, UsageEvent
from tests.api.conftest import token_client
from tests.factories import (
    ContractFactory,
    CredentialFactory,
    SystemFactory,
    UserFactory,
    VendorFactory,
)
from vendors.permissions import role_grant

pytestmark = pytest.mark.django_db
URL = "/api/v1/usage-events/"
ACTOR = Actor.system("tests")


@pytest.fixture
def world(agency):
    vendor = VendorFactory(agency=agency, name="Acme Logs")
    system = SystemFactory(agency=agency, name="archive", kind="manual")
    contract = ContractFactory(vendor=vendor)
    cred = CredentialFactory(
        vendor=vendor, system=system, contracts=[contract], external_id="acme_reader"
    )
    return {"vendor": vendor, "system": system, "contract": contract, "cred": cred}


@pytest.fixture
def client(agency):
    shipper = UserFactory(username="log-shipper")
    role_grant(user=shipper, agency=agency, role="integration")
    return token_client(shipper)


def event(world, n, **overrides):
    body = {
        "id": f"evt-{n}",
        "system": world["system"].pk,
        "account": "acme_reader",
        "occurred_at": (timezone.now() - dt.timedelta(minutes=10)).isoformat(),
        "source_address": "198.51.100.7",
        "bytes": 1000,
    }
    body.update(overrides)
    return body


def post(client, events):
    return client.post(URL, {"events": events}, format="json")


def test_a_batch_is_stored_once_and_moves_last_used(client, world):
    at = timezone.now() - dt.timedelta(minutes=3)
    response = post(client, [event(world, 1), event(world, 2, occurred_at=at.isoformat())])
    assert response.status_code == 200, response.content
    assert response.json() == {
        "accepted": ["evt-1", "evt-2"],
        "duplicates": [],
        "findings_opened": [],
    }
    world["cred"].refresh_from_db()
    assert world["cred"].last_used_at == at
    stored = UsageEvent.objects.get(event_id="evt-1")
    assert stored.credential_id == world["cred"].pk and stored.vendor_id == world["vendor"].pk
    assert stored.source_address == "198.51.100.7" and stored.bytes == 1000
    audit = AuditEvent.objects.get(action="system.usage_reported")
    assert audit.after["event_ids"] == ["evt-1", "evt-2"]
    assert audit.agency_id == world["system"].agency_id
    assert "log-shipper" in audit.actor_name

    # The shipper retries the same batch, plus an older login: nothing twice, and
    # last use never moves back.
    older = (at - dt.timedelta(hours=1)).isoformat()
    again = post(client, [event(world, 1), event(world, 2), event(world, 3, occurred_at=older)])
    assert again.status_code == 200
    assert again.json()["accepted"] == ["evt-3"]
    assert again.json()["duplicates"] == ["evt-1", "evt-2"]
    assert UsageEvent.objects.count() == 3
    world["cred"].refresh_from_db()
    assert world["cred"].last_used_at == at


def test_a_login_after_the_contract_end_is_critical_and_mailed(
    client, world, officer, django_capture_on_commit_callbacks
):
    officer.email = "officer@agency.example"
    officer.save()
    ended = ContractFactory(
        vendor=world["vendor"],
        start_date=timezone.localdate() - dt.timedelta(days=400),
        end_date=timezone.localdate() - dt.timedelta(days=10),
    )
    world["cred"].contracts.set([ended])
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, [event(world, 1)])
    assert response.status_code == 200, response.content
    finding = Finding.objects.get(kind="used_after_contract_end")
    assert finding.severity == "critical" and finding.credential_id == world["cred"].pk
    assert finding.evidence["event_id"] == "evt-1"
    assert response.json()["findings_opened"] == [finding.pk]
    assert AuditEvent.objects.filter(action="finding.opened", target_id=str(finding.pk)).exists()
    assert any("CRITICAL" in m.subject for m in mail.outbox)


def test_a_login_before_the_contract_end_is_not_a_finding(client, world):
    response = post(client, [event(world, 1)])
    assert response.status_code == 200
    assert not Finding.objects.exists()


def test_a_login_after_revocation_is_critical(client, world):
    revoked_at = timezone.now() - dt.timedelta(hours=1)
    Credential.objects.filter(pk=world["cred"].pk).update(
        status=Credential.Status.REVOKED, revoked_at=revoked_at
    )
    before = (revoked_at - dt.timedelta(minutes=5)).isoformat()
    response = post(client, [event(world, 1, occurred_at=before)])
    assert response.status_code == 200
    assert not Finding.objects.exists()  # a late report of a login before revocation
    response = post(client, [event(world, 2)])
    finding = Finding.objects.get(kind="used_after_revocation")
    assert finding.severity == "critical" and "after revocation" in finding.summary


def test_unknown_account_is_an_orphan_attributed_by_pattern(client, world):
    account_pattern_add(actor=ACTOR, vendor=world["vendor"], kind="prefix", value="acme_")
    response = post(client, [event(world, 1, account="acme_ghost")])
    assert response.status_code == 200
    finding = Finding.objects.get(kind="orphan")
    assert finding.vendor_id == world["vendor"].pk and finding.account == "acme_ghost"
    assert UsageEvent.objects.get().vendor_id == world["vendor"].pk


def test_a_login_from_outside_the_allowed_networks(client, world):
    # No networks configured: nothing to check.
    assert post(client, [event(world, 1, source_address="203.0.113.9")]).status_code == 200
    assert not Finding.objects.exists()
    vendor_network_add(actor=ACTOR, vendor=world["vendor"], cidr="198.51.100.0/24")
    vendor_network_add(actor=ACTOR, vendor=world["vendor"], cidr="2001:db8::/32")
    inside = [
        event(world, 2, source_address="198.51.100.200"),
        event(world, 3, source_address="2001:db8::1"),
    ]
    assert post(client, inside).status_code == 200
    assert not Finding.objects.exists()
    assert post(client, [event(world, 4, source_address="203.0.113.9")]).status_code == 200
    finding = Finding.objects.get(kind="unexpected_source")
    assert finding.severity == "high" and finding.evidence["source"] == "203.0.113.9"
    assert finding.evidence["allowed"] == ["198.51.100.0/24", "2001:db8::/32"]


def test_a_bulk_read_far_above_the_vendors_usual(client, world, settings):
    settings.SUNDOWN_VOLUME_MIN_EVENTS = 5
    settings.SUNDOWN_VOLUME_MIN_BYTES = 1_000_000
    usual = [event(world, n, bytes=100_000 + n) for n in range(5)]
    assert post(client, usual).status_code == 200
    # Ten times the mean but under the floor, then just under ten times: quiet.
    assert post(client, [event(world, 10, bytes=900_000)]).status_code == 200
    assert not Finding.objects.exists()
    big = post(client, [event(world, 11, bytes=50_000_000)])
    assert big.status_code == 200
    finding = Finding.objects.get(kind="volume_anomaly")
    assert finding.evidence["bytes"] == 50_000_000 and finding.evidence["baseline_events"] == 6
    # The anomaly stays out of the baseline: the next bulk read is news too.
    assert UsageEvent.objects.get(event_id="evt-11").volume_anomaly
    finding.status = "resolved"
    finding.save()
    post(client, [event(world, 12, bytes=50_000_000)])
    assert Finding.objects.filter(kind="volume_anomaly", status="open").count() == 1


def test_bad_input_is_400_with_field_messages(client, world, other_agency):
    other_system = SystemFactory(agency=other_agency, name="theirs")
    future = (timezone.now() + dt.timedelta(hours=2)).isoformat()
    response = post(
        client,
        [
            event(world, 1),
            event(world, 2, system=other_system.pk, source_address="not-an-ip"),
            event(world, 3, occurred_at=future, bytes=-1, colour="blue"),
        ],
    )
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert set(fields) == {
        "events[1].system",
        "events[1].source_address",
        "events[2].occurred_at",
        "events[2].bytes",
        "events[2].colour",
    }, fields
    assert fields["events[2].occurred_at"] == ["A login cannot be in the future."]
    assert not UsageEvent.objects.exists()  # nothing of a refused batch is stored
    for body in ({}, {"events": []}, {"events": "x"}, [1], {"events": [1]}):
        bad = client.post(URL, body, format="json")
        assert bad.status_code == 400, (body, bad.content)
    too_many = post(client, [event(world, n) for n in range(1001)])
    assert too_many.status_code == 400


def test_permissions_are_per_agency(world, auditor, other_agency, agency):
    # A reader cannot report; a reader lists only their agency's events.
    reader = token_client(auditor)
    assert post(reader, [event(world, 1)]).status_code == 403
    assert AuditEvent.objects.filter(action="api.permission_denied").exists()
    theirs = UserFactory(username="their-shipper")
    role_grant(user=theirs, agency=other_agency, role="integration")
    response = post(token_client(theirs), [event(world, 1)])
    assert response.status_code == 400
    assert "events[0].system" in response.json()["error"]["fields"]

    shipper = UserFactory(username="our-shipper")
    role_grant(user=shipper, agency=agency, role="integration")
    assert post(token_client(shipper), [event(world, 1)]).status_code == 200
    listed = reader.get(URL).json()["results"]
    assert [row["event_id"] for row in listed] == ["evt-1"]
    assert token_client(theirs).get(URL).json()["results"] == []


def test_a_batch_costs_the_same_queries_whatever_its_size(client, world, agency):
    # One scoped lookup for every event's system and set-based writes (issue 10: 1,000
    # events were 1,000 lookups, 31 s under load, past gunicorn's timeout).
    second = SystemFactory(agency=agency, name="second", kind="manual")
    CredentialFactory(
        vendor=world["vendor"], system=second, contracts=[world["contract"]], external_id="b"
    )

    def queries(n: int, run: str) -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        events = [
            event(world, f"{run}{i}", system=(world["system"], second)[i % 2].pk, account=acct)
            for i, acct in zip(range(n), ["acme_reader", "b", "nobody"] * n, strict=False)
        ]
        with CaptureQueriesContext(connection) as captured:
            assert post(client, events).status_code == 200
        return len(captured.captured_queries)

    queries(6, "w")  # the first batch opens the findings (every system and account pair)
    assert queries(6, "a") == queries(60, "b")


def test_each_events_system_is_checked_as_one_lookup_would(client, world, other_agency):
    theirs = SystemFactory(agency=other_agency, name="theirs")
    systems = [world["system"].pk, str(world["system"].pk), 0, theirs.pk, "x", True, [1], 2**70]
    response = post(client, [event(world, n, system=s) for n, s in enumerate(systems)])
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert fields == {
        "events[2].system": ['Invalid pk "0" - object does not exist.'],
        "events[3].system": [f'Invalid pk "{theirs.pk}" - object does not exist.'],
        "events[4].system": ["Incorrect type. Expected pk value, received str."],
        "events[5].system": ["Incorrect type. Expected pk value, received bool."],
        "events[6].system": ["Incorrect type. Expected pk value, received list."],
        "events[7].system": [f'Invalid pk "{2**70}" - object does not exist.'],
    }, fields
