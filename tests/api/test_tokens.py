"""API tokens: hashed at rest, refused when expired or revoked, audited, throttled."""

import datetime as dt
import io
import subprocess

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from api.models import ApiToken
from api.services import api_token_create, api_token_revoke, hash_key
from audit.actor import Actor
from audit.models import AuditEvent
from tests.api.conftest import token_client, verified_session

pytestmark = pytest.mark.django_db


def _dump_text() -> str:
    """Every column of every table, as text."""
    chunks = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public'"
        )
        for table, column in cursor.fetchall():
            cursor.execute(f'SELECT "{column}"::text FROM "{table}"')
            chunks.extend(value for (value,) in cursor.fetchall() if value)
    return "\n".join(chunks)


def test_key_is_not_in_any_column_of_the_database(officer, world):
    client = token_client(officer)
    key = client.key
    assert client.get("/api/v1/vendors/").status_code == 200  # also writes last_used_at
    dump = _dump_text()
    secret_part = key.split("_", 2)[2]
    assert key not in dump
    assert secret_part not in dump
    token = ApiToken.objects.get()
    assert token.key_hash == hash_key(key) and len(token.key_hash) == 64
    assert key.startswith(token.prefix)
    assert token.last_used_at is not None


@pytest.mark.django_db(transaction=True)
def test_key_is_not_in_a_database_dump(officer, world):
    client = token_client(officer)
    key = client.key
    assert client.get("/api/v1/vendors/").status_code == 200
    token = ApiToken.objects.get()
    # A real dump of the (committed) test database, every table and column.
    db = connection.settings_dict
    dump = subprocess.run(
        ["pg_dump", "--data-only", "-h", db["HOST"], "-p", str(db["PORT"]), "-U", db["USER"]]
        + [db["NAME"]],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert token.key_hash in dump  # the dump does hold the token row...
    assert key not in dump  # ...but not the key,
    assert key.split("_", 2)[2] not in dump  # nor its secret part.


def test_unknown_and_malformed_tokens_are_refused(officer, world):
    client = APIClient()
    for header in ("Token sdn_deadbeef_nope", "Token", "Token a b", "Token sdn_\u00e9"):
        client.credentials(HTTP_AUTHORIZATION=header)
        response = client.get("/api/v1/vendors/")
        assert response.status_code == 401, header
        assert response.json()["error"]["status"] == 401
        assert response["WWW-Authenticate"] == "Token"


def test_no_credentials_is_401():
    response = APIClient().get("/api/v1/vendors/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_revoked_token_is_refused_and_revocation_audited(officer, world):
    token, key = api_token_create(actor=Actor.system("tests"), user=officer, name="ci")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/vendors/").status_code == 200
    api_token_revoke(actor=Actor.for_user(officer), token=token)
    response = client.get("/api/v1/vendors/")
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]["message"]
    assert client.get("/api/v1/vendors/").status_code == 401
    refused = AuditEvent.objects.filter(action="api.token_refused").get()  # once, not per call
    assert refused.actor_type == "token" and refused.target_id == str(token.pk)
    assert "revoked" in refused.after["reason"]
    event = AuditEvent.objects.filter(action="api_token.revoked").get()
    assert event.target_id == str(token.pk) and event.actor_name == "officer"
    created = AuditEvent.objects.filter(action="api_token.created").get()
    assert created.after["prefix"] == token.prefix
    assert key not in str(created.after)


def test_expired_token_is_refused(officer, world):
    token, key = api_token_create(
        actor=Actor.system("tests"), user=officer, name="ci", expires_in_days=1
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/vendors/").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = client.get("/api/v1/vendors/")
    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]


def test_token_of_inactive_user_is_refused(officer, world):
    client = token_client(officer)
    officer.is_active = False
    officer.save()
    assert client.get("/api/v1/vendors/").status_code == 401


def test_changes_made_with_a_token_name_the_token_as_actor(officer, world):
    client = token_client(officer)
    token = ApiToken.objects.get()
    response = client.patch(
        f"/api/v1/systems/{world['system'].pk}/", {"lifecycle": "legacy"}, format="json"
    )
    assert response.status_code == 200, response.content
    event = AuditEvent.objects.filter(action="system.updated").get()
    assert event.actor_type == "token"
    assert event.actor_id == str(token.pk)
    assert event.actor_name == f"officer (token {token.prefix})"
    assert event.request_id == response["X-Request-ID"]


def test_create_api_token_command_prints_the_key_once(officer, world):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "create_api_token",
        "officer",
        "--expires",
        "30",
        "--name",
        "HR sync",
        stdout=out,
        stderr=err,
    )
    key = out.getvalue().strip()
    token = ApiToken.objects.get()
    assert token.name == "HR sync" and token.key_hash == hash_key(key)
    assert token.expires_at - timezone.now() > dt.timedelta(days=29)
    assert key not in err.getvalue()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/vendors/").status_code == 200
    assert AuditEvent.objects.filter(action="api_token.created").count() == 1


def test_create_api_token_command_refuses_unknown_user(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("create_api_token", "nobody", stdout=io.StringIO(), stderr=io.StringIO())


def test_service_token(officer, world):
    out = io.StringIO()
    call_command("create_api_token", "officer", "--service", stdout=out, stderr=io.StringIO())
    assert ApiToken.objects.get().kind == ApiToken.Kind.SERVICE


def test_admin_creates_token_shows_key_once_and_revokes(verified_admin_client, officer):
    admin_client = verified_admin_client
    response = admin_client.post(
        "/admin/api/apitoken/add/",
        {"user": officer.pk, "name": "ticketing", "kind": "service", "expires_in_days": "7"},
        follow=True,
    )
    assert response.status_code == 200
    token = ApiToken.objects.get()
    shown = [str(m) for m in response.context["messages"]]
    key = next(part for m in shown for part in m.split() if part.startswith(token.prefix + "_"))
    assert token.key_hash == hash_key(key)
    detail = admin_client.get(f"/admin/api/apitoken/{token.pk}/change/")
    assert key not in detail.content.decode()
    admin_client.post(
        "/admin/api/apitoken/",
        {"action": "revoke_tokens", "_selected_action": [token.pk]},
        follow=True,
    )
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEvent.objects.filter(action="api_token.revoked").count() == 1


def test_token_expiry_beyond_the_calendar_is_refused(officer, world):
    from django.core.exceptions import ValidationError
    from django.core.management.base import CommandError

    with pytest.raises(ValidationError) as raised:
        api_token_create(
            actor=Actor.system("tests"), user=officer, name="ci", expires_in_days=10**8
        )
    assert "expires_in_days" in raised.value.message_dict
    with pytest.raises(CommandError):
        call_command(
            "create_api_token",
            "officer",
            "--expires",
            str(10**8),
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
    assert not ApiToken.objects.exists()


def test_admin_refuses_bad_token_input_with_form_errors(verified_admin_client, admin_user, officer):
    officer.is_active = False
    officer.save()
    for data in (
        {"user": officer.pk, "name": "inactive", "kind": "personal"},
        {"user": admin_user.pk, "name": "far", "kind": "personal", "expires_in_days": "99999999"},
    ):
        response = verified_admin_client.post("/admin/api/apitoken/add/", data)
        assert response.status_code == 200  # the form again, with its errors
        assert response.context["adminform"].form.errors
    assert not ApiToken.objects.exists()


def test_throttled_per_token(officer, world, settings):
    rest = {**settings.REST_FRAMEWORK}
    rest["DEFAULT_THROTTLE_RATES"] = {"token": "3/min", "anon": "3/min"}
    with override_settings(REST_FRAMEWORK=rest):
        first, second = token_client(officer), token_client(officer)
        codes = [first.get("/api/v1/agencies/").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        # Another token of the same user has its own bucket.
        assert second.get("/api/v1/agencies/").status_code == 200
        response = first.get("/api/v1/agencies/")
        assert response.json()["error"]["code"] == "throttled"
        assert int(response["Retry-After"]) > 0


def test_denied_requests_are_throttled_before_they_are_audited(auditor, world, settings):
    rest = {**settings.REST_FRAMEWORK}
    rest["DEFAULT_THROTTLE_RATES"] = {"token": "3/min", "anon": "3/min"}
    url = f"/api/v1/credentials/{world['credential'].pk}/revoke/"
    with override_settings(REST_FRAMEWORK=rest):
        client = token_client(auditor)
        codes = [client.post(url, {"reason": "x"}, format="json").status_code for _ in range(5)]
    assert codes == [403, 403, 403, 429, 429]
    assert AuditEvent.objects.filter(action="api.permission_denied").count() == 3


def test_session_auth_enforces_csrf(officer, world):
    client = verified_session(officer, APIClient(enforce_csrf_checks=True))
    assert client.get("/api/v1/vendors/").status_code == 200
    response = client.post(
        "/api/v1/vendors/", {"agency": world["agency"].pk, "name": "Via Browser"}, format="json"
    )
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]
    client.get("/admin/login/")  # sets the csrftoken cookie
    csrf = client.cookies["csrftoken"].value
    response = client.post(
        "/api/v1/vendors/",
        {"agency": world["agency"].pk, "name": "Via Browser"},
        format="json",
        HTTP_X_CSRFTOKEN=csrf,
    )
    assert response.status_code == 201, response.content
    assert AuditEvent.objects.filter(action="vendor.created").get().actor_type == "user"
