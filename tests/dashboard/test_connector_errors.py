"""A target's own words (its refusal, its errors) only for those who may read the audit trail.

The API shows revocation attempts only with VIEW_AUDIT; the dashboard's pages follow the
same rule per agency: security officers and auditors read the connector's error,
procurement (and integrations) read a neutral label instead, on every page that has one.
"""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from access.models import Credential
from revocation.models import ManualTask, RevocationAttempt
from revocation.selectors import CONNECTOR_ERROR_HIDDEN
from tests.factories import CredentialFactory, UserFactory
from tests.sessions import signed_in
from vendors.permissions import role_grant

pytestmark = pytest.mark.django_db

REFUSAL = "PostgreSQL refused: permission denied to drop role acme_broken"
RETRYING = "MariaDB refused: (1045, Access denied for user sundown at 10.0.0.7)"
TASK_DETAIL = "LDAP refused: insufficientAccessRights on uid=acme_broken,ou=people"
ATTEMPT_ERROR = "Redis refused: NOPERM this user has no permissions to run the ACL command"


@pytest.fixture
def errors(estate):
    """A failed credential, a retrying one, an attempt and a manual task, each with the
    target's words, in ``agency``."""
    failed = estate["failed"]
    Credential.objects.filter(pk=failed.pk).update(last_error=REFUSAL)
    pending = CredentialFactory(
        vendor=estate["vendor"],
        system=estate["db"],
        external_id="acme_retrying",
        contracts=[estate["running"]],
        status=Credential.Status.PENDING,
        revocation_requested_at=timezone.now(),
        last_error=RETRYING,
    )
    now = timezone.now()
    RevocationAttempt.objects.create(
        credential=failed,
        system=estate["db"],
        connector="postgres",
        worker="tests",
        attempt=1,
        outcome="error",
        error=ATTEMPT_ERROR,
        started_at=now - dt.timedelta(minutes=5),
    )
    ManualTask.objects.create(
        credential=failed,
        system=estate["db"],
        reason=ManualTask.Reason.FAILED,
        detail=TASK_DETAIL,
        opened_at=now,
    )
    return {**estate, "pending": pending}


def _pages(errors):
    return {
        "credential": reverse("credential_detail", args=[errors["failed"].pk]),
        "pending credential": reverse("credential_detail", args=[errors["pending"].pk]),
        "system": reverse("system_detail", args=[errors["db"].pk]),
        "vendor": reverse("vendor_detail", args=[errors["vendor"].pk]),
        "queue": reverse("revocation_queue"),
        "home": reverse("home"),
    }


def _html(client, url, **headers) -> str:
    response = client.get(url, **headers)
    assert response.status_code == 200, url
    return response.content.decode()


def _shown(html: str) -> set[str]:
    return {text for text in (REFUSAL, RETRYING, TASK_DETAIL, ATTEMPT_ERROR) if text in html}


def _every_page(client, errors) -> tuple[set[str], bool]:
    seen: set[str] = set()
    label = False
    for url in _pages(errors).values():
        html = _html(client, url)
        seen |= _shown(html)
        label |= CONNECTOR_ERROR_HIDDEN in html
    # The queue's live tables, as htmx polls them.
    html = _html(client, _pages(errors)["queue"], HTTP_HX_REQUEST="true")
    seen |= _shown(html)
    label |= CONNECTOR_ERROR_HIDDEN in html
    return seen, label


@pytest.mark.parametrize("persona", ["officer", "auditor"])
def test_security_staff_read_the_targets_words(persona, request, errors):
    client = signed_in(request.getfixturevalue(persona), verified=persona == "officer")
    seen, label = _every_page(client, errors)
    assert seen == {REFUSAL, RETRYING, TASK_DETAIL, ATTEMPT_ERROR}
    assert not label
    assert REFUSAL in _html(client, _pages(errors)["credential"])
    assert TASK_DETAIL in _html(client, _pages(errors)["queue"])


@pytest.mark.parametrize("role", ["procurement", "integration"])
def test_roles_without_the_audit_permission_read_a_neutral_label(role, agency, errors):
    user = UserFactory(username=f"no-audit-{role}")
    role_grant(user=user, agency=agency, role=role)
    client = signed_in(user, verified=False)
    seen, label = _every_page(client, errors)
    assert seen == set()
    assert label
    # On each page that had an error, the label stands where the error stood.
    for name in ("credential", "pending credential", "system", "vendor", "queue"):
        html = _html(client, _pages(errors)[name])
        assert CONNECTOR_ERROR_HIDDEN in html, name
    html = _html(client, _pages(errors)["credential"])
    assert f'data-testid="last-error">{CONNECTOR_ERROR_HIDDEN}<' in html


def test_the_audit_permission_counts_in_the_errors_own_agency(agency, other_agency, errors):
    # An auditor elsewhere, procurement here: this agency's errors stay hidden.
    user = UserFactory(username="auditor-elsewhere")
    role_grant(user=user, agency=agency, role="procurement")
    role_grant(user=user, agency=other_agency, role="auditor")
    seen, label = _every_page(signed_in(user, verified=False), errors)
    assert seen == set()
    assert label
