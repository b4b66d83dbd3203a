"""Hostile input is a 400 with field messages, never a 500 or a stored time bomb (issue 10:
stored denial of service, surrogates, control characters, OPTIONS, ended contracts)."""

import datetime as dt
import json

import pytest
from django.utils import timezone

from access.models import Credential
from tests.api.conftest import token_client
from tests.factories import ContractFactory

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    "/api/v1/agencies/",
    "/api/v1/vendors/",
    "/api/v1/contracts/",
    "/api/v1/systems/",
    "/api/v1/credentials/",
    "/api/v1/revocations/",
    "/api/v1/manual-tasks/",
    "/api/v1/audit-events/",
]


@pytest.fixture
def api(integration):
    return token_client(integration)


def _post(api, url, body: str):
    return api.generic("POST", url, body, "application/json")


def test_a_body_nested_a_thousand_deep_is_a_400(api, agency):
    body = f'{{"agency": {agency.pk}, "name": ' + "[" * 1000 + "]" * 1000 + "}"
    response = _post(api, "/api/v1/vendors/", body)
    assert response.status_code == 400 and response.json()["error"]["code"] == "parse_error"


def test_a_config_nested_900_deep_is_refused_not_stored(api, agency):
    deep = "{}"
    for _ in range(900):
        deep = f'{{"a": {deep}}}'
    body = f'{{"agency": {agency.pk}, "name": "deep", "kind": "manual", "config": {deep}}}'
    response = _post(api, "/api/v1/systems/", body)
    assert response.status_code == 400
    # A config within the depth limit still has to be flat.
    response = api.post(
        "/api/v1/systems/",
        {"agency": agency.pk, "name": "nested", "kind": "manual", "config": {"host": {"a": 1}}},
    )
    assert response.status_code == 400 and "config" in response.json()["error"]["fields"]


def test_a_body_over_a_megabyte_is_a_413(api, agency):
    body = json.dumps({"agency": agency.pk, "name": "x" * (1024 * 1024 + 10)})
    assert _post(api, "/api/v1/vendors/", body).status_code == 413


@pytest.mark.parametrize(
    "url,field",
    [("/api/v1/vendors/", "name"), ("/api/v1/systems/", "name"), ("/api/v1/systems/", "config")],
)
def test_a_lone_surrogate_is_a_400(api, agency, url, field):
    payload = {"agency": agency.pk, "name": "ok", "kind": "manual"}
    payload[field] = {"host": "\udfff"} if field == "config" else "bad \udfff"
    response = _post(api, url, json.dumps(payload))  # json.dumps escapes it as \udfff
    assert response.status_code == 400, response.content


@pytest.mark.parametrize("name", ["x\nsystem", "Notice\r\nBcc: attacker@evil.test", "tab\there"])
def test_control_characters_in_names_are_refused(api, agency, name):
    for url, payload in [
        ("/api/v1/vendors/", {"agency": agency.pk, "name": name}),
        ("/api/v1/systems/", {"agency": agency.pk, "name": name, "kind": "manual"}),
    ]:
        response = api.post(url, payload)
        assert response.status_code == 400, (url, response.content)
        assert "name" in response.json()["error"]["fields"]


def test_multi_line_text_keeps_its_line_breaks(api, world):
    response = api.patch(
        f"/api/v1/credentials/{world['credential'].pk}/", {"privileges": "SELECT\nINSERT"}
    )
    assert response.status_code == 200 and response.json()["privileges"] == "SELECT\nINSERT"


@pytest.mark.parametrize("url", ENDPOINTS)
def test_options_is_not_offered_and_never_a_500(api, world, url):
    # 403 where the integration role may not read at all (the audit trail).
    assert api.options(url).status_code in (403, 405)
    assert api.options(f"{url}1/").status_code in (403, 404, 405)


def test_registering_under_an_ended_contract_is_refused(api, world):
    """Inventory is not a revoke permission: a credential under only ended contracts
    would be revoked by the next sweep, on an account the user may not revoke."""
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    ended = ContractFactory(vendor=world["vendor"], end_date=yesterday)
    response = api.post(
        "/api/v1/credentials/",
        {
            "vendor": world["vendor"].pk,
            "system": world["system"].pk,
            "contracts": [ended.pk],
            "kind": "database_role",
            "external_id": "dba_of_someone_else",
        },
    )
    assert response.status_code == 400 and "contracts" in response.json()["error"]["fields"]
    assert not Credential.objects.filter(external_id="dba_of_someone_else").exists()
    # Nor can an existing credential be moved under it.
    response = api.patch(
        f"/api/v1/credentials/{world['credential'].pk}/", {"contracts": [ended.pk]}
    )
    assert response.status_code == 400 and "contracts" in response.json()["error"]["fields"]
    # A running contract next to it is fine.
    response = api.post(
        "/api/v1/credentials/",
        {
            "vendor": world["vendor"].pk,
            "system": world["system"].pk,
            "contracts": [ended.pk, world["contract"].pk],
            "kind": "database_role",
            "external_id": "still_covered",
        },
    )
    assert response.status_code == 201, response.content


def test_with_the_revoke_permission_registering_under_an_ended_contract_is_allowed(officer, world):
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    ended = ContractFactory(vendor=world["vendor"], end_date=yesterday)
    response = token_client(officer).post(
        "/api/v1/credentials/",
        {
            "vendor": world["vendor"].pk,
            "system": world["system"].pk,
            "contracts": [ended.pk],
            "kind": "database_role",
            "external_id": "found_after_the_end",
        },
    )
    assert response.status_code == 201, response.content


def test_page_size_must_be_a_whole_number(api, world):
    for bad in ("abc", "1.5", "0", "-3"):
        response = api.get(f"/api/v1/vendors/?page_size={bad}")
        assert response.status_code == 400 and "page_size" in response.json()["error"]["fields"]
    assert api.get("/api/v1/vendors/?page_size=5").status_code == 200


def test_a_reason_must_be_text_not_a_number(officer, world):
    client = token_client(officer)
    response = client.post(f"/api/v1/credentials/{world['credential'].pk}/revoke/", {"reason": 0})
    assert response.status_code == 400 and "reason" in response.json()["error"]["fields"]
