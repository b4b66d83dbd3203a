"""Systems that point at a name under .invalid (the demo's placeholders) say so: a
"demo: host does not exist" label in the API and wherever the dashboard names a system,
and a permanent connector error with that reason, without a DNS lookup (issue 9 item 8)."""

import socket

import pytest
from django.urls import reverse

from access.destinations import (
    DEMO_HOST_LABEL,
    DestinationRefused,
    destination_check,
    never_resolves,
)
from access.models import System
from revocation.connectors.base import ConnectorError, connector_for
from tests.api.conftest import token_client
from tests.factories import CredentialFactory, SystemFactory, VendorFactory
from tests.sessions import signed_in

pytestmark = pytest.mark.django_db

PLACEHOLDERS = [
    ("postgres", {"host": "postgres.health.agency.invalid"}),
    ("mariadb", {"host": "MariaDB.Health.Agency.Invalid."}),
    ("redis", {"host": "redis.health.agency.invalid", "port": 6379}),
    ("ldap", {"host": "ldap.health.agency.invalid", "base_dn": "dc=health,dc=agency,dc=invalid"}),
    ("scim", {"url": "https://scim.health.agency.invalid/scim/v2"}),
    ("manual", {"host": "archive.health.agency.invalid"}),
]


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("x.invalid", True),
        ("X.AGENCY.INVALID.", True),
        ("invalid", True),
        ("invalid.example", False),
        ("db.notinvalid", False),
        ("db.agency.internal", False),
        ("10.0.0.1", False),
        ("", False),
        (None, False),
    ],
)
def test_only_names_under_invalid_never_resolve(host, expected):
    assert never_resolves(host) is expected


def test_a_placeholder_is_saved_whatever_the_allowlist_and_never_connected_to(settings):
    settings.SUNDOWN_TARGET_ALLOWLIST = []
    assert destination_check("db.agency.invalid", 5432, resolve=False) == []
    with pytest.raises(DestinationRefused, match=DEMO_HOST_LABEL):
        destination_check("db.agency.invalid", 5432, resolve=True)
    # Only the reserved name: a look-alike still needs the allowlist.
    with pytest.raises(DestinationRefused, match="not an allowed destination"):
        destination_check("db.agency.invalid.example", 5432, resolve=False)


@pytest.mark.parametrize(("kind", "config"), PLACEHOLDERS)
def test_placeholder_systems_carry_the_label(agency, kind, config):
    assert SystemFactory(agency=agency, kind=kind, config=config).demo_label == DEMO_HOST_LABEL


def test_real_and_local_systems_carry_none(agency):
    for kind, config in [
        ("postgres", {"host": "db.agency.example"}),
        ("scim", {"url": "https://scim.agency.example/v2"}),
        ("htpasswd", {"path": "/srv/portal/users.htpasswd"}),
        ("manual", {}),
        ("postgres", {"host": "bad host name"}),  # malformed: no label, and no crash
    ]:
        assert SystemFactory(agency=agency, kind=kind, config=config).demo_label == ""


@pytest.mark.parametrize(("kind", "config"), [p for p in PLACEHOLDERS if p[0] != "manual"])
def test_connectors_fail_permanently_with_the_reason_and_look_nothing_up(
    agency, kind, config, monkeypatch
):
    looked_up = []
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: looked_up.append(a) or [])
    system = SystemFactory(agency=agency, kind=kind, config=config)
    with pytest.raises(ConnectorError) as caught, connector_for(system) as connector:
        connector.list_accounts()
    assert caught.value.permanent
    assert str(caught.value).startswith(f"{DEMO_HOST_LABEL}: ")
    assert looked_up == []


def test_the_api_shows_the_label(agency, officer, settings):
    settings.SUNDOWN_TARGET_ALLOWLIST = ["*.agency.example"]
    placeholder = SystemFactory(agency=agency, kind="postgres", config=PLACEHOLDERS[0][1])
    real = SystemFactory(agency=agency, kind="postgres", config={"host": "db.agency.example"})
    client = token_client(officer)
    body = client.get(f"/api/v1/systems/{placeholder.pk}/").json()
    assert body["demo_label"] == DEMO_HOST_LABEL
    assert client.get(f"/api/v1/systems/{real.pk}/").json()["demo_label"] == ""
    # Read-only, like every computed field: sending it is refused, not ignored.
    response = client.patch(f"/api/v1/systems/{real.pk}/", {"demo_label": "x"}, format="json")
    assert response.status_code == 400
    assert "demo_label" in response.json()["error"]["fields"]


def test_the_dashboard_shows_the_label_where_systems_are_named(agency, officer):
    placeholder = SystemFactory(
        agency=agency,
        name="Citizen records DB (legacy)",
        kind="postgres",
        config=PLACEHOLDERS[0][1],
        lifecycle=System.Lifecycle.LEGACY,
        estimated_records=18_000_000,
    )
    real = SystemFactory(agency=agency, name="Real DB", kind="postgres", config={"host": "x.e"})
    vendor = VendorFactory(agency=agency)
    credential = CredentialFactory(vendor=vendor, system=placeholder)
    CredentialFactory(vendor=vendor, system=placeholder, status="failed")
    client = signed_in(officer)
    pages = {
        "systems": reverse("system_list"),
        "system": reverse("system_detail", args=[placeholder.pk]),
        "credential": reverse("credential_detail", args=[credential.pk]),
        "home": reverse("home"),
    }
    for name, url in pages.items():
        html = client.get(url).content.decode()
        assert f'sd-tag--demo">{DEMO_HOST_LABEL}</span>' in html, name
    html = client.get(reverse("system_detail", args=[real.pk])).content.decode()
    assert DEMO_HOST_LABEL not in html
