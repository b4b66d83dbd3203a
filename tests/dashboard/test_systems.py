"""Systems in the dashboard: register, edit (settings per kind, write-only secret), test
the connection on a real target, change the lifecycle. Every change through the
services, audited; bad input is a form error."""

import pytest
from django.urls import reverse

from access.crypto import encrypt
from access.models import Credential, System
from audit.models import AuditEvent
from dashboard.system_forms import config_field_name
from tests.factories import SystemFactory, UserFactory
from tests.revocation.connectors.servers_local import htpasswd_file  # noqa: F401
from tests.revocation.helpers import PG
from tests.sessions import signed_in
from vendors.permissions import role_grant

pytestmark = pytest.mark.django_db


def _pg_post(**extra):
    data = {
        "agency": "health",
        "name": "citizen-registry",
        "kind": "postgres",
        "data_classification": "restricted",
        "estimated_records": "18000000",
        "owner_email": "dba@agency.example",
        config_field_name("postgres", "host"): PG["host"],
        config_field_name("postgres", "port"): str(PG["port"]),
        config_field_name("postgres", "user"): "postgres",
        config_field_name("postgres", "revoke_memberships"): "false",
        # A half-typed setting of another kind is ignored, not an error.
        config_field_name("redis", "port"): "not a number",
        "secret": "s3cret-pass",
        "lifecycle": "active",
    }
    data.update(extra)
    return data


def test_officer_registers_a_system_with_typed_settings(officer_client, agency):
    page = officer_client.get(reverse("system_create"))
    body = page.content.decode()
    assert page.status_code == 200
    # Every setting of the kind is explained next to its field.
    assert "Role Sundown logs in as (needs CREATEROLE)" in body
    assert 'data-kind="redis"' in body and "hidden" in body

    response = officer_client.post(reverse("system_create"), _pg_post())
    system = System.objects.get(name="citizen-registry")
    assert response.status_code == 302
    assert response.url == reverse("system_detail", args=[system.pk])
    assert system.config == {
        "host": PG["host"],
        "port": PG["port"],
        "user": "postgres",
        "revoke_memberships": False,
    }
    assert system.get_secret() == "s3cret-pass"
    event = AuditEvent.objects.get(action="system.created", target_id=str(system.pk))
    assert event.after["has_secret"] is True
    assert "s3cret-pass" not in str(event.after)
    detail = officer_client.get(response.url).content.decode()
    assert "s3cret-pass" not in detail and "Stored (never shown)" in detail


def test_bad_settings_are_form_errors(officer_client, agency):
    refused = officer_client.post(
        reverse("system_create"), _pg_post(**{config_field_name("postgres", "host"): "10.9.9.9"})
    )
    assert refused.status_code == 400
    assert "usa-alert--error" in refused.content.decode()
    bad_port = officer_client.post(
        reverse("system_create"), _pg_post(**{config_field_name("postgres", "port"): "x"})
    )
    assert bad_port.status_code == 400
    assert "Enter a whole number." in bad_port.content.decode()
    both = officer_client.post(reverse("system_create"), _pg_post(clear_secret="on"))
    assert both.status_code == 302  # no stored secret on create: clear is no field there
    duplicate = officer_client.post(reverse("system_create"), _pg_post())
    assert duplicate.status_code == 400
    assert "already exists" in duplicate.content.decode()
    assert System.objects.filter(name="citizen-registry").count() == 1


def test_edit_keeps_replaces_and_clears_the_secret(officer_client, agency):
    officer_client.post(reverse("system_create"), _pg_post())
    system = System.objects.get(name="citizen-registry")
    url = reverse("system_edit", args=[system.pk])
    form = officer_client.get(url).content.decode()
    assert "s3cret-pass" not in form
    assert f'value="{PG["port"]}"' in form  # settings come back for editing

    def post(**extra):
        data = _pg_post(secret="", estimated_records="5")
        data.pop("agency"), data.pop("lifecycle")
        data.update(extra)
        return officer_client.post(url, data)

    assert post().status_code == 302
    system.refresh_from_db()
    assert system.estimated_records == 5 and system.get_secret() == "s3cret-pass"

    post(secret="new-pass")
    system.refresh_from_db()
    assert system.get_secret() == "new-pass"
    assert AuditEvent.objects.filter(action="system.updated", after__secret="replaced").exists()

    both = post(secret="x", clear_secret="on")
    assert both.status_code == 400
    assert "not both" in both.content.decode()

    # Pointing it elsewhere clears the secret unless a new one comes with it.
    moved = post(**{config_field_name("postgres", "dbname"): "other"})
    system.refresh_from_db()
    assert not system.has_secret
    assert AuditEvent.objects.filter(action="system.destination_changed").exists()
    assert "stored secret was cleared" in officer_client.get(moved.url).content.decode()

    post(secret="again")
    post(clear_secret="on")
    system.refresh_from_db()
    assert not system.has_secret
    assert AuditEvent.objects.filter(action="system.updated", after__secret="cleared").exists()


def test_an_api_spelled_port_does_not_count_as_a_move(officer_client, agency):
    system = SystemFactory(
        agency=agency,
        kind="postgres",
        config={"host": PG["host"], "port": str(PG["port"]), "connect_timeout": 5},
        secret_encrypted=encrypt("kept"),
    )
    data = {
        "name": system.name,
        "kind": "postgres",
        "data_classification": "internal",
        "estimated_records": "7",
        config_field_name("postgres", "host"): PG["host"],
        config_field_name("postgres", "port"): str(PG["port"]),
        config_field_name("postgres", "connect_timeout"): "5",
    }
    assert officer_client.post(reverse("system_edit", args=[system.pk]), data).status_code == 302
    system.refresh_from_db()
    assert system.get_secret() == "kept" and system.estimated_records == 7
    assert system.config["port"] == str(PG["port"])


def test_test_connection_reads_a_real_target(officer_client, agency, htpasswd_file):  # noqa: F811
    system = System.objects.create(
        agency=agency, name="basic-auth", kind="htpasswd", config={"path": str(htpasswd_file.path)}
    )
    before = htpasswd_file.path.read_bytes()
    response = officer_client.post(reverse("system_test", args=[system.pk]), follow=True)
    body = response.content.decode()
    assert "Connected to basic-auth: the target lists 2 accounts" in body
    assert htpasswd_file.path.read_bytes() == before  # read-only
    event = AuditEvent.objects.get(action="system.connection_tested")
    assert event.after["ok"] is True and event.after["accounts"] == 2


def test_a_failed_test_shows_the_error_as_the_api_would(officer_client, agency):
    system = System.objects.create(
        agency=agency,
        name="scim-broken",
        kind="scim",
        config={"url": "http://127.0.0.1:9/scim/v2", "timeout": 1},
    )
    body = officer_client.post(reverse("system_test", args=[system.pk]), follow=True)
    assert "Connection test failed: could not connect to the scim system" in body.content.decode()
    assert AuditEvent.objects.get(action="system.connection_tested").after["ok"] is False

    # The integration role may manage inventory but not read the audit trail: it sees
    # a neutral label instead of the target's words, as in the API.
    integration = UserFactory(username="robot")
    role_grant(user=integration, agency=agency, role="integration")
    client = signed_in(integration, verified=False)
    body = client.post(reverse("system_test", args=[system.pk]), follow=True).content.decode()
    assert "Connection test failed:" in body
    assert "could not connect to the scim system" not in body


def test_manual_systems_offer_no_test(officer_client, estate):
    desk = estate["desk"]
    body = officer_client.get(reverse("system_detail", args=[desk.pk])).content.decode()
    assert "Test connection" not in body and "Edit system" in body


def test_decommissioning_needs_confirmation_and_revokes(officer_client, estate):
    db = estate["db"]
    url = reverse("system_lifecycle", args=[db.pk])
    page = officer_client.get(reverse("system_detail", args=[db.pk])).content.decode()
    assert "(2 active or failed now)" in page
    refused = officer_client.post(url, {"lifecycle": "decommissioned"}, follow=True)
    assert "Confirm that every vendor credential" in refused.content.decode()
    db.refresh_from_db()
    assert db.lifecycle == "active"

    officer_client.post(url, {"lifecycle": "decommissioned", "confirm": "on"})
    db.refresh_from_db()
    assert db.lifecycle == "decommissioned"
    statuses = set(db.credentials.values_list("status", flat=True))
    assert statuses == {Credential.Status.PENDING}
    assert AuditEvent.objects.filter(
        action="credential.revocation_requested", after__trigger="system_decommissioned"
    ).exists()

    officer_client.post(url, {"lifecycle": "legacy"})
    db.refresh_from_db()
    assert db.lifecycle == "legacy"


def test_who_may_manage_systems(
    officer_client, procurement_client, auditor_client, outsider_client, estate
):
    db = estate["db"]
    for client in (procurement_client, auditor_client):
        assert client.get(reverse("system_create")).status_code == 404
        assert client.get(reverse("system_edit", args=[db.pk])).status_code == 404
        assert client.post(reverse("system_test", args=[db.pk])).status_code == 404
        body = client.get(reverse("system_detail", args=[db.pk])).content.decode()
        assert "Edit system" not in body and "Test connection" not in body
    # Another agency's system is absent, whatever the role.
    assert outsider_client.get(reverse("system_edit", args=[db.pk])).status_code == 404
    assert (
        outsider_client.post(
            reverse("system_lifecycle", args=[db.pk]), {"lifecycle": "legacy"}
        ).status_code
        == 404
    )
    form = outsider_client.get(reverse("system_create")).content.decode()
    assert "Federal Ministry of Health" not in form


def test_a_system_that_skips_tls_checks_says_so_on_its_pages(officer_client, agency):
    skipped = SystemFactory(
        agency=agency,
        name="legacy-directory",
        kind="ad",
        config={"url": "ldaps://127.0.0.1", "base_dn": "DC=x", "tls_verify": False},
    )
    checked = SystemFactory(
        agency=agency, name="new-directory", kind="ad", config={"base_dn": "DC=x"}
    )
    detail = officer_client.get(reverse("system_detail", args=[skipped.pk])).content.decode()
    assert 'data-testid="tls-unverified"' in detail and "Certificate not checked" in detail
    other = officer_client.get(reverse("system_detail", args=[checked.pk])).content.decode()
    assert "tls-unverified" not in other
    listing = officer_client.get(reverse("system_list")).content.decode()
    row = listing[listing.index("legacy-directory") :]
    assert "TLS not checked" in row[: row.index("</tr>")]
    assert listing.count("TLS not checked") == 1
    # What AD cannot do is said where the system is.
    assert 'data-testid="kind-limits"' in detail and "Kerberos tickets already issued" in detail
    # The CA goes in a multi-line field of the form.
    form = officer_client.get(reverse("system_edit", args=[checked.pk])).content.decode()
    name = config_field_name("ad", "tls_ca")
    assert f'<textarea name="{name}"' in form


def test_decommissioning_live_credentials_needs_the_revoke_permission(estate, agency):
    # The integration role manages inventory but may not revoke: decommissioning a
    # system with live credentials would revoke them all, so it is refused.
    integration = UserFactory(username="robot")
    role_grant(user=integration, agency=agency, role="integration")
    client = signed_in(integration, verified=False)
    db = estate["db"]
    url = reverse("system_lifecycle", args=[db.pk])
    page = client.post(url, {"lifecycle": "decommissioned", "confirm": "on"}, follow=True)
    assert "needs the revoke permission" in page.content.decode()
    db.refresh_from_db()
    assert db.lifecycle == "active"
    assert not AuditEvent.objects.filter(action="system.updated", target_id=str(db.pk)).exists()
    assert set(db.credentials.values_list("status", flat=True)) == {"active", "failed"}
    # Other lifecycle changes stay theirs.
    client.post(url, {"lifecycle": "legacy"})
    db.refresh_from_db()
    assert db.lifecycle == "legacy"
