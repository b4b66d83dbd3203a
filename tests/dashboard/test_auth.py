"""Sign-in: TOTP for security officers, lockout by user and address with cool-off, audit."""

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP

from audit.models import AuditEvent
from dashboard.models import SealedTOTPDevice as TOTPDevice

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


def _code(device: TOTPDevice, offset_steps: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = timezone.now().timestamp() + offset_steps * device.step
    return f"{totp.token():0{device.digits}d}"


def _unthrottle(device: TOTPDevice) -> None:
    # A failed code throttles the device for a second or more (django-otp's defence).
    TOTPDevice.objects.filter(pk=device.pk).update(
        throttling_failure_count=0, throttling_failure_timestamp=None
    )
    device.refresh_from_db()


def _sign_in(client, username, password=PASSWORD, ip="10.0.0.1"):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def test_officer_enrols_on_first_sign_in_then_verifies_each_session(officer, last_event):
    client = Client()
    response = _sign_in(client, "officer")
    assert response.status_code == 302
    home = client.get(reverse("home"))
    assert home.status_code == 302 and home.url.startswith(reverse("otp_setup"))
    page = client.get(home.url)
    assert page.status_code == 200 and b"<svg" in page.content
    device = TOTPDevice.objects.get(user=officer, confirmed=False)

    bad = client.post(reverse("otp_setup"), {"token": "000000", "next": "/"})
    assert bad.status_code == 400
    assert last_event("auth.otp_failed").actor_name == "officer"

    _unthrottle(device)
    ok = client.post(reverse("otp_setup"), {"token": _code(device), "next": "/"})
    assert ok.status_code == 302
    assert client.get(reverse("home")).status_code == 200
    assert last_event("auth.otp_enrolled").target_repr == "officer"

    # A new session must verify again, and a wrong code is refused and audited.
    second = Client()
    _sign_in(second, "officer")
    assert second.get(reverse("vendor_list")).url.startswith(reverse("otp_verify"))
    assert second.post(reverse("otp_verify"), {"token": "123456"}).status_code == 400
    assert AuditEvent.objects.filter(action="auth.otp_failed").count() == 2
    _unthrottle(device)
    response = second.post(reverse("otp_verify"), {"token": _code(device, 1), "next": "/vendors/"})
    assert response.status_code == 302 and response.url == "/vendors/"
    assert second.get(reverse("vendor_list")).status_code == 200
    assert last_event("auth.otp_verified").actor_name == "officer"
    assert last_event("auth.login").actor_name == "officer"


def test_procurement_needs_no_second_factor(procurement):
    client = Client()
    _sign_in(client, "clerk")
    assert client.get(reverse("home")).status_code == 200


def test_otp_redirect_is_an_htmx_redirect_for_partial_requests(officer):
    client = Client()
    _sign_in(client, "officer")
    response = client.get(reverse("vendor_list"), HTTP_HX_REQUEST="true")
    assert response.status_code == 204 and "HX-Redirect" in response.headers


def test_next_must_stay_on_this_host(officer):
    device = TOTPDevice.objects.create(user=officer, name="app", confirmed=True)
    client = Client()
    _sign_in(client, "officer")
    response = client.post(
        reverse("otp_verify"), {"token": _code(device), "next": "https://evil.example/"}
    )
    assert response.status_code == 302 and response.url == "/"


def test_lockout_by_user_and_address_with_cool_off(procurement, settings, last_event):
    limit = settings.AXES_FAILURE_LIMIT
    attacker = Client()
    for _ in range(limit):
        _sign_in(attacker, "clerk", password="wrong", ip="203.0.113.9")
    # Locked for this user from this address, even with the right password.
    locked = _sign_in(attacker, "clerk", ip="203.0.113.9")
    assert locked.status_code == 429
    assert b"temporarily blocked" in locked.content
    assert last_event("auth.locked_out").source_ip == "203.0.113.9"
    assert last_event("auth.login_failed").actor_name == "clerk"

    # The real user at their own address is not locked out by the attacker.
    victim = Client()
    assert _sign_in(victim, "clerk", ip="10.0.0.7").status_code == 302
    assert victim.get(reverse("home")).status_code == 200

    # After the cool-off the attacker's address may try again.
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - dt.timedelta(seconds=1)
    )
    assert _sign_in(Client(), "clerk", ip="203.0.113.9").status_code == 302


def test_session_expiry_settings(settings):
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE is True
    assert 0 < settings.SESSION_COOKIE_AGE <= 12 * 3600
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]
    assert settings.AXES_COOLOFF_TIME is not None


def test_unverified_officer_session_gets_json_403_from_the_api(officer):
    client = Client()
    client.force_login(officer)  # password only, no second factor yet
    response = client.get("/api/v1/vendors/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "otp_required"
    assert client.get(reverse("home")).status_code == 302  # the dashboard still redirects
