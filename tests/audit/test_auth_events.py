"""Sign-ins, failed sign-ins and sign-outs land in the audit trail with address and request id."""

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_login_logout_and_failure_are_audited(client):
    UserFactory(username="alice")
    client.post(
        reverse("login"),
        {"username": "alice", "password": "wrong-password"},
        REMOTE_ADDR="198.51.100.7",
    )
    failed = AuditEvent.objects.get(action="auth.login_failed")
    assert failed.actor_name == "alice" and failed.source_ip == "198.51.100.7"
    assert "wrong-password" not in str(failed.before) + str(failed.after) + failed.target_repr

    client.post(
        reverse("login"),
        {"username": "alice", "password": "correct-horse-battery"},
        REMOTE_ADDR="198.51.100.7",
        HTTP_X_REQUEST_ID="req-login-1",
    )
    login = AuditEvent.objects.get(action="auth.login")
    assert login.actor_name == "alice" and login.actor_type == "user"
    assert login.request_id == "req-login-1" and login.source_ip == "198.51.100.7"

    client.post(reverse("logout"), REMOTE_ADDR="198.51.100.7")
    logout = AuditEvent.objects.get(action="auth.logout")
    assert logout.actor_name == "alice" and logout.source_ip == "198.51.100.7"
