"""Behaviour of the endpoints: fields, filters, pagination, the audit cursor, errors."""

import datetime as dt

import pytest
from django.utils import timezone

from access.models import Credential, System
from audit.actor import Actor
from audit.models import AuditEvent
from audit.services import audit_record_standalone
from tests.api.conftest import token_client
from tests.factories import ContractFactory, CredentialFactory, SystemFactory, VendorFactory
from vendors.models import Contract
from vendors.permissions import role_grant

pytestmark = pytest.mark.django_db
TODAY = dt.date.today()


@pytest.fixture
def officer_api(officer):
    return token_client(officer)


@pytest.fixture
def integration_api(integration):
    return token_client(integration)


def test_minimum_fields(integration_api, world):
    vendor = integration_api.get(f"/api/v1/vendors/{world['vendor'].pk}/").json()
    assert {"name", "agency"} <= set(vendor)
    contract = integration_api.get(f"/api/v1/contracts/{world['contract'].pk}/").json()
    assert {"vendor", "reference", "start_date", "end_date"} <= set(contract)
    system = integration_api.get(f"/api/v1/systems/{world['system'].pk}/").json()
    assert {"name", "agency", "kind", "config"} <= set(system) and "secret" not in system
    credential = integration_api.get(f"/api/v1/credentials/{world['credential'].pk}/").json()
    assert {"vendor", "system", "contracts", "kind", "external_id", "status"} <= set(credential)
    assert credential["contracts"] == [world["contract"].pk]


def test_system_secret_is_write_only_and_encrypted(integration_api, agency):
    response = integration_api.post(
        "/api/v1/systems/",
        {
            "agency": agency.pk,
            "name": "hr-db",
            "kind": "postgres",
            "config": {"host": "127.0.0.1", "port": 5432},
            "secret": "pg-pass-0123",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert "secret" not in body and body["has_secret"] is True
    system = System.objects.get(pk=body["id"])
    assert "pg-pass-0123" not in system.secret_encrypted
    assert system.get_secret() == "pg-pass-0123"
    event = AuditEvent.objects.get(action="system.created")
    assert "pg-pass-0123" not in str(event.after)
    # Omitted secret: kept. Empty: cleared.
    url = f"/api/v1/systems/{system.pk}/"
    assert integration_api.patch(url, {"lifecycle": "legacy"}, format="json").json()["has_secret"]
    assert not integration_api.patch(url, {"secret": ""}, format="json").json()["has_secret"]


def test_config_must_not_hold_secrets(integration_api, agency):
    response = integration_api.post(
        "/api/v1/systems/",
        {"agency": agency.pk, "name": "x", "kind": "redis", "config": {"password": "p"}},
        format="json",
    )
    assert response.status_code == 400
    assert "config" in response.json()["error"]["fields"]
    assert not System.objects.exists()


def test_service_validation_errors_become_400_with_fields(integration_api, world):
    response = integration_api.post(
        "/api/v1/contracts/",
        {
            "vendor": world["vendor"].pk,
            "reference": "C-BAD",
            "start_date": str(TODAY),
            "end_date": str(TODAY - dt.timedelta(days=1)),
        },
        format="json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and "end_date" in error["fields"]
    assert not Contract.objects.filter(reference="C-BAD").exists()


def test_end_date_at_the_end_of_the_calendar_is_a_400(integration_api, world):
    body = {"vendor": world["vendor"].pk, "reference": "C-FAR", "start_date": str(TODAY)}
    response = integration_api.post(
        "/api/v1/contracts/", {**body, "end_date": "9999-12-31"}, format="json"
    )
    assert response.status_code == 400
    assert "end_date" in response.json()["error"]["fields"]
    response = integration_api.patch(
        f"/api/v1/contracts/{world['contract'].pk}/",
        {"end_date": "9999-12-31", "change_reason": "renewed"},
        format="json",
    )
    assert response.status_code == 400
    assert "end_date" in response.json()["error"]["fields"]


def test_nothing_half_written(integration_api, world):
    contract = world["contract"]
    events = AuditEvent.objects.count()
    response = integration_api.patch(
        f"/api/v1/contracts/{contract.pk}/",
        {"title": "New title", "end_date": str(contract.start_date - dt.timedelta(days=1))},
        format="json",
    )
    assert response.status_code == 400, response.content
    contract.refresh_from_db()
    assert contract.title == ""  # the title change was rolled back with the bad end date
    assert AuditEvent.objects.count() == events


def test_immutable_fields_are_refused(integration_api, world, other_world):
    response = integration_api.patch(
        f"/api/v1/credentials/{world['credential'].pk}/",
        {"external_id": "renamed", "holder": "x"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["external_id"] == [
        "This field cannot be changed here."
    ]
    assert Credential.objects.get(pk=world["credential"].pk).holder == ""


def test_related_objects_of_other_agencies_do_not_exist(integration_api, world, other_world):
    response = integration_api.post(
        "/api/v1/credentials/",
        {
            "vendor": world["vendor"].pk,
            "system": world["system"].pk,
            "contracts": [other_world["contract"].pk],
            "kind": "api_key",
            "external_id": "sneaky",
        },
        format="json",
    )
    assert response.status_code == 400
    message = response.json()["error"]["fields"]["contracts"][0]
    assert "does not exist" in message


def test_contract_of_another_vendor_is_refused_by_the_service(integration_api, world, agency):
    stranger = ContractFactory(vendor=VendorFactory(agency=agency))
    response = integration_api.post(
        "/api/v1/credentials/",
        {
            "vendor": world["vendor"].pk,
            "system": world["system"].pk,
            "contracts": [stranger.pk],
            "kind": "api_key",
            "external_id": "k",
        },
        format="json",
    )
    assert response.status_code == 400
    assert "contracts" in response.json()["error"]["fields"]


def test_credential_filters_search_ordering_pagination(officer_api, world, other_world, agency):
    ldap = SystemFactory(agency=agency, name="directory", kind="ldap", lifecycle="legacy")
    for n in range(12):
        CredentialFactory(vendor=world["vendor"], system=ldap, external_id=f"uid=v{n:02d}")
    url = "/api/v1/credentials/"
    page = officer_api.get(url, {"system_kind": "ldap", "page_size": 5}).json()
    assert page["count"] == 12 and len(page["results"]) == 5 and page["next"]
    assert officer_api.get(url, {"lifecycle": "legacy"}).json()["count"] == 12
    assert officer_api.get(url, {"vendor": world["vendor"].pk}).json()["count"] == 14
    assert officer_api.get(url, {"agency": other_world["agency"].pk}).json()["count"] == 0
    assert officer_api.get(url, {"search": "v07"}).json()["count"] == 1
    ordered = officer_api.get(url, {"system": ldap.pk, "ordering": "-external_id"}).json()
    assert ordered["results"][0]["external_id"] == "uid=v11"
    bad = officer_api.get(url, {"status": "nonsense"})
    assert bad.status_code == 400 and "status" in bad.json()["error"]["fields"]
    assert officer_api.get(url, {"search": "a\x00b"}).status_code == 400  # PostgreSQL can't


def test_contract_end_date_range(officer_api, world):
    soon = ContractFactory(vendor=world["vendor"], end_date=TODAY + dt.timedelta(days=5))
    response = officer_api.get(
        "/api/v1/contracts/",
        {"end_date_after": str(TODAY), "end_date_before": str(TODAY + dt.timedelta(days=10))},
    )
    assert [c["id"] for c in response.json()["results"]] == [soon.pk]


def test_audit_event_cursor(officer_api, agency, other_agency, officer):
    system = Actor.system("tests")
    own = [
        audit_record_standalone(actor=system, action="tests.own", agency_id=agency.pk)
        for _ in range(5)
    ]
    audit_record_standalone(actor=system, action="tests.other", agency_id=other_agency.pk)
    url = "/api/v1/audit-events/"
    first = officer_api.get(url, {"after_seq": 0, "limit": 3, "action": "tests.own"}).json()
    assert [e["seq"] for e in first["results"]] == [e.seq for e in own[:3]]
    assert first["last_seq"] == own[2].seq and first["next"]
    second = officer_api.get(first["next"]).json()
    assert [e["seq"] for e in second["results"]] == [e.seq for e in own[3:]]
    assert second["next"] is None
    everything = officer_api.get(url, {"limit": 1000}).json()["results"]
    assert "tests.other" not in {e["action"] for e in everything}
    assert officer_api.get(url, {"after_seq": "x"}).status_code == 400
    head = officer_api.get(url, {"after_seq": own[-1].seq + 10**6}).json()
    assert head["results"] == [] and head["next"] is None


def test_multi_agency_user_sees_both(officer, world, other_world, other_agency):
    role_grant(user=officer, agency=other_agency, role="auditor")
    api = token_client(officer)
    assert api.get("/api/v1/vendors/").json()["count"] == 2
    # Auditor there: may read but not revoke.
    response = api.post(
        f"/api/v1/credentials/{other_world['credential'].pk}/revoke/",
        {"reason": "x"},
        format="json",
    )
    assert response.status_code == 403


def test_unsupported_method_and_bad_json(officer_api, world):
    url = f"/api/v1/vendors/{world['vendor'].pk}/"
    response = officer_api.delete(url)
    assert response.status_code == 405 and response.json()["error"]["status"] == 405
    response = officer_api.generic("POST", "/api/v1/vendors/", "{not json", "application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "parse_error"


def test_credentials_say_whether_the_target_has_shown_them(officer_api, world, agency):
    system = SystemFactory(agency=agency, name="warehouse", kind="postgres")
    credential = CredentialFactory(vendor=world["vendor"], system=system, external_id="peer_x")
    body = officer_api.get(f"/api/v1/credentials/{credential.pk}/").json()
    assert body["last_seen_on_target_at"] is None and body["target_checked_at"] is None
    assert body["status_label"] == "Active"
    Credential.objects.filter(pk=credential.pk).update(
        status="confirmed", revoked_at=timezone.now(), revoked_by="officer"
    )
    body = officer_api.get(f"/api/v1/credentials/{credential.pk}/").json()
    assert body["status"] == "confirmed"
    assert body["status_label"] == "Revoked, confirmed by officer"
