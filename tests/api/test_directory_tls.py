"""Directory TLS settings through the API: the CA as multi-line PEM, and an explicit
``tls_verify: false`` shown as its own field of the system."""

import pytest

from access.models import System
from tests.api.conftest import token_client
from tests.revocation.connectors.tls_certs import TestCA

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(integration):
    return token_client(integration)


def _create(api, agency, kind, config):
    return api.post(
        "/api/v1/systems/",
        {"agency": agency.pk, "name": f"dir-{kind}-{len(config)}", "kind": kind, "config": config},
        format="json",
    )


def test_a_ca_certificate_is_multi_line_pem_and_other_text_is_one_line(api, agency):
    pem = TestCA().pem
    assert pem.count("\n") > 3
    created = _create(
        api,
        agency,
        "ad",
        {"url": "ldaps://127.0.0.1", "base_dn": "OU=Vendors,DC=x", "tls_ca": pem},
    )
    assert created.status_code == 201, created.content
    assert System.objects.get(pk=created.json()["id"]).config["tls_ca"] == pem
    refused = _create(api, agency, "ldap", {"url": "ldaps://127.0.0.1", "base_dn": "dc=x\ndc=y"})
    assert refused.status_code == 400
    assert "base_dn" in str(refused.json())
    too_long = _create(api, agency, "ldap", {"base_dn": "dc=x", "tls_ca": "A" * 20001})
    assert too_long.status_code == 400


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"tls_ca": "-----BEGIN CERTIFICATE-----\nnot one\n"}, "tls_ca: must be PEM"),
        ({"tls_verify": "no"}, "tls_verify: must be true or false"),
    ],
)
def test_a_tls_setting_the_connector_cannot_use_is_refused_on_save(api, agency, config, message):
    response = _create(api, agency, "ad", {"url": "ldaps://127.0.0.1", "base_dn": "DC=x", **config})
    assert response.status_code == 400
    assert message in str(response.json())


def test_tls_verify_false_is_its_own_field_wherever_the_system_is_read(api, agency):
    skipped = _create(
        api,
        agency,
        "ad",
        {"url": "ldaps://127.0.0.1", "base_dn": "OU=Vendors,DC=x", "tls_verify": False},
    ).json()
    checked = _create(api, agency, "ldap", {"url": "ldaps://127.0.0.1", "base_dn": "dc=x"})
    other = _create(api, agency, "redis", {"host": "127.0.0.1"})
    assert skipped["tls_verify"] is False
    assert checked.json()["tls_verify"] is True
    assert other.json()["tls_verify"] is None
    assert api.get(f"/api/v1/systems/{skipped['id']}/").json()["tls_verify"] is False
    listed = {s["id"]: s for s in api.get("/api/v1/systems/").json()["results"]}
    assert listed[skipped["id"]]["tls_verify"] is False
    # Read-only: it is the config's setting that decides.
    patched = api.patch(f"/api/v1/systems/{skipped['id']}/", {"tls_verify": True}, format="json")
    assert patched.status_code == 400
