"""Password sign-in under SUNDOWN_LOCAL_LOGIN, and the per-agency acceptance of IdP MFA."""

import pytest
from django.core.management import call_command
from django.test import override_settings

from audit.models import AuditEvent
from tests.factories import UserFactory

PASSWORD = "correct-horse-battery"


def _post_login(client, username):
    return client.post("/accounts/login/", {"username": username, "password": PASSWORD})


@pytest.fixture
def admin_user(db):
    return UserFactory(username="root", is_superuser=True, is_staff=True)


@pytest.mark.django_db
def test_everyone_may_use_a_password_by_default(client, auditor):
    assert _post_login(client, "auditor").status_code == 302


@pytest.mark.django_db
@override_settings(SUNDOWN_LOCAL_LOGIN="superusers")
def test_break_glass_keeps_passwords_for_superusers_only(client, auditor, admin_user):
    refused = _post_login(client, "auditor")
    assert refused.status_code == 200
    assert "password sign-in is not allowed for this account" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    event = AuditEvent.objects.order_by("-seq").first()
    assert (event.action, event.target_repr) == ("auth.login_failed", "auditor")
    assert "Administrator break-glass sign-in" not in refused.content.decode()  # no IdP set
    assert _post_login(client, "root").status_code == 302


@pytest.mark.django_db
@override_settings(SUNDOWN_LOCAL_LOGIN="none")
def test_passwords_can_be_turned_off(client, admin_user):
    assert _post_login(client, "root").status_code == 200
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
@override_settings(
    SUNDOWN_LOCAL_LOGIN="none",
    SUNDOWN_OIDC_ISSUER="https://idp.example.invalid",
    SUNDOWN_OIDC_CLIENT_ID="sundown",
    SUNDOWN_OIDC_PROVIDER_NAME="Agency ID",
)
def test_with_passwords_off_the_page_shows_only_the_provider(client):
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with Agency ID" in page
    assert 'name="password"' not in page


@pytest.mark.django_db
@override_settings(
    SUNDOWN_LOCAL_LOGIN="superusers",
    SUNDOWN_OIDC_ISSUER="https://idp.example.invalid",
    SUNDOWN_OIDC_CLIENT_ID="sundown",
)
def test_with_break_glass_the_page_labels_the_password_form(client):
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with single sign-on" in page
    assert "Administrator break-glass sign-in" in page
    assert 'name="password"' in page


@pytest.mark.django_db
def test_agency_acceptance_of_idp_mfa_is_audited_once(agency):
    call_command("agency_idp_mfa", "health", "--trust")
    call_command("agency_idp_mfa", "health", "--trust")
    agency.refresh_from_db()
    assert agency.trust_idp_mfa is True
    events = AuditEvent.objects.filter(action="agency.idp_mfa_trust_changed")
    assert [(e.before, e.after, e.actor_name) for e in events] == [
        ({"trust_idp_mfa": False}, {"trust_idp_mfa": True}, "system:manage.py")
    ]
    call_command("agency_idp_mfa", "health", "--distrust")
    agency.refresh_from_db()
    assert agency.trust_idp_mfa is False
    assert AuditEvent.objects.filter(action="agency.idp_mfa_trust_changed").count() == 2
