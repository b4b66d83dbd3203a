"""The Django admin and TOTP seeds (issue 10): privilege changes made in the admin are
audited, seeds are never shown and are encrypted at rest, verification runs stay."""

import binascii

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.db import connection
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent, VerificationRun
from dashboard import services
from dashboard.models import SealedTOTPDevice
from tests.factories import UserFactory
from tests.sessions import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(admin_user):
    return signed_in(admin_user)


def _events(action):
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def test_making_a_user_superuser_in_the_admin_is_audited(admin_client, admin_user):
    user = UserFactory(username="quiet")
    response = admin_client.post(
        f"/admin/auth/user/{user.pk}/change/",
        {
            "username": "quiet",
            "email": user.email,
            "is_active": "on",
            "is_staff": "on",
            "is_superuser": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    (event,) = _events("user.changed")
    assert event.actor_name == admin_user.get_username() and event.target_id == str(user.pk)
    assert event.before == {"is_staff": False, "is_superuser": False}
    assert event.after == {"is_staff": True, "is_superuser": True}


def test_password_and_group_changes_in_the_admin_are_audited(admin_client):
    user = UserFactory(username="pw-user")
    response = admin_client.post(
        f"/admin/auth/user/{user.pk}/password/",
        {"password1": "a-new-long-passphrase-42", "password2": "a-new-long-passphrase-42"},
    )
    assert response.status_code == 302
    (event,) = _events("user.changed")
    assert event.after == {"password": "changed"}
    user.refresh_from_db()
    assert user.password not in repr(event.before) + repr(event.after)

    response = admin_client.post("/admin/auth/group/add/", {"name": "dbas"})
    assert response.status_code == 302
    (created,) = _events("group.created")
    assert created.after == {"name": "dbas", "permissions": []}
    group = Group.objects.get(name="dbas")
    response = admin_client.post(f"/admin/auth/group/{group.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert _events("group.deleted")[0].before["name"] == "dbas"


def test_totp_devices_in_the_admin_show_no_seed_and_cannot_be_edited(admin_client, officer):
    device = services.otp_device_start(user=officer)
    hex_key = binascii.hexlify(device.bin_key).decode()
    listing = admin_client.get("/admin/dashboard/sealedtotpdevice/")
    detail = admin_client.get(f"/admin/dashboard/sealedtotpdevice/{device.pk}/change/")
    assert listing.status_code == 200 and detail.status_code == 200
    for page in (listing, detail):
        body = page.content.decode()
        assert hex_key not in body and device.sealed_key not in body
        assert "otpauth://" not in body
    assert admin_client.get("/admin/dashboard/sealedtotpdevice/add/").status_code == 403
    assert admin_client.get("/admin/otp_totp/totpdevice/").status_code == 404
    response = admin_client.post(
        f"/admin/dashboard/sealedtotpdevice/{device.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    assert not SealedTOTPDevice.objects.filter(user=officer).exists()
    (event,) = _events("otp_device.deleted")
    assert event.before["user"] == officer.get_username()


def test_verification_runs_cannot_be_deleted_in_the_admin(admin_client):
    run = VerificationRun.objects.create(ok=True, events_checked=0, message="ok")
    response = admin_client.post(f"/admin/audit/verificationrun/{run.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert VerificationRun.objects.filter(pk=run.pk).exists()


def test_totp_seeds_are_encrypted_at_rest(officer):
    device = services.otp_device_start(user=officer)
    hex_key = binascii.hexlify(device.bin_key).decode()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM dashboard_sealedtotpdevice WHERE id = %s", [device.pk])
        row = cursor.fetchone()
    assert hex_key not in repr(row)
    assert len(device.bin_key) == 20


def test_the_migration_seals_existing_plain_devices_and_empties_their_table(officer):
    from importlib import import_module

    migration = import_module("dashboard.migrations.0001_sealed_totp_device")
    plain = TOTPDevice.objects.create(user=officer, name="old phone", confirmed=True)
    key = plain.bin_key
    migration.seal_existing_devices(apps, None)
    assert not TOTPDevice.objects.exists()
    (sealed,) = SealedTOTPDevice.objects.filter(name="old phone")
    assert sealed.bin_key == key and sealed.confirmed and sealed.user == officer
