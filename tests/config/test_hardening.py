"""Site-wide hardening from the penetration test (issue 10): forged X-Forwarded-For,
password spraying and token guessing per address, sessions in a dump, caching."""

import pytest
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from tests.api.conftest import token_client
from tests.factories import UserFactory
from tests.sessions import signed_in

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()


def _sign_in(username, password, ip, xff=None, client=None):
    extra = {"REMOTE_ADDR": ip}
    if xff:
        extra["HTTP_X_FORWARDED_FOR"] = xff
    return (client or Client()).post(
        reverse("login"), {"username": username, "password": password}, **extra
    )


def test_a_fresh_forwarded_for_per_request_neither_dodges_the_lockout_nor_forges_the_trail(
    procurement, settings
):
    settings.SUNDOWN_TRUSTED_PROXIES = []
    for n in range(12):
        _sign_in("clerk", "wrong", "203.0.113.9", xff=f"198.51.100.{n}")
    assert _sign_in("clerk", PASSWORD, "203.0.113.9", xff="198.51.100.200").status_code == 429
    sources = set(
        AuditEvent.objects.filter(action="auth.login_failed").values_list("source_ip", flat=True)
    )
    assert sources == {"203.0.113.9"}


def test_forwarded_for_is_read_only_from_a_trusted_proxy(procurement, settings):
    settings.SUNDOWN_TRUSTED_PROXIES = ["172.30.0.10"]
    _sign_in("clerk", "wrong", "172.30.0.10", xff="6.6.6.6, 198.51.100.7")
    _sign_in("clerk", "wrong", "203.0.113.5", xff="198.51.100.8")
    sources = list(
        AuditEvent.objects.filter(action="auth.login_failed")
        .order_by("seq")
        .values_list("source_ip", flat=True)
    )
    # Through the proxy: the hop it added, not what the client claimed before it.
    # Straight to web: the connecting address, whatever the header says.
    assert sources == ["198.51.100.7", "203.0.113.5"]


def test_spraying_one_password_across_usernames_is_limited_per_address(agency, settings):
    settings.SUNDOWN_AUTH_FAILURES_PER_ADDRESS = 10
    real = UserFactory(username="real-user")
    real.set_password(PASSWORD)
    real.save()
    for n in range(10):
        _sign_in(f"someone-{n}", "Spring2026!", "203.0.113.20")
    # Over the budget: refused at this address even with the right password ...
    blocked = _sign_in("real-user", PASSWORD, "203.0.113.20")
    assert blocked.status_code == 200 and "_auth_user_id" not in blocked.client.session
    # ... while the same user elsewhere signs in.
    assert _sign_in("real-user", PASSWORD, "10.0.0.8").status_code == 302


def test_invalid_tokens_are_throttled_per_address(officer, settings):
    settings.SUNDOWN_AUTH_FAILURES_PER_ADDRESS = 5
    guesser = Client()
    for n in range(5):
        response = guesser.get(
            "/api/v1/vendors/", HTTP_AUTHORIZATION=f"Token guess{n}", REMOTE_ADDR="203.0.113.30"
        )
        assert response.status_code == 401
    response = guesser.get(
        "/api/v1/vendors/", HTTP_AUTHORIZATION="Token guess-more", REMOTE_ADDR="203.0.113.30"
    )
    assert response.status_code == 429 and "Retry-After" in response
    # A real token from another address is unaffected.
    assert token_client(officer).get("/api/v1/vendors/").status_code == 200


def test_a_dump_of_django_session_holds_no_live_session(procurement):
    client = Client()
    assert _sign_in("clerk", PASSWORD, "10.0.0.9", client=client).status_code == 302
    cookie = client.cookies["sessionid"].value
    stored = list(Session.objects.values_list("session_key", flat=True))
    assert stored and cookie not in stored
    for key in stored:
        thief = Client()
        thief.cookies["sessionid"] = key
        assert thief.get(reverse("home")).status_code == 302  # to the sign-in page
    assert client.get(reverse("home")).status_code == 200
    client.post(reverse("logout"))
    assert not Session.objects.exists()


def test_nothing_agency_related_is_cached(officer, agency):
    client = signed_in(officer)
    api = token_client(officer)
    for response in (
        client.get(reverse("home")),
        client.get(reverse("audit_export")),
        api.get("/api/v1/vendors/"),
    ):
        assert response.status_code == 200
        assert "no-store" in response["Cache-Control"]
