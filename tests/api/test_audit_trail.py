"""/api/v1/audit-events/ gives an auditor the same trail as the dashboard's audit page:
the agency's events and the deployment-wide ones (sign-ins, second factors, chain checks)
about the agency's people, so seq has no gap an auditor could read as a deletion; never
another agency's events or sign-ins, and nothing to roles that may not read the trail."""

import pytest
from django.test import Client
from django.urls import reverse

from audit.actor import Actor
from audit.models import AuditEvent
from audit.selectors import audit_trail_list
from audit.services import audit_record_standalone
from tests.api.conftest import token_client
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"
URL = "/api/v1/audit-events/"


def _sign_in(username, password=PASSWORD):
    Client().post(reverse("login"), {"username": username, "password": password})


@pytest.fixture
def trail(agency, other_agency, auditor, procurement, outsider):
    """Events of both agencies and sign-ins of people of both, and of nobody known."""
    for user in (procurement, outsider):
        user.set_password(PASSWORD)
        user.save()
    system = Actor.system("tests")
    own = audit_record_standalone(actor=system, action="tests.own", agency_id=agency.pk)
    _sign_in("clerk")
    _sign_in("outsider")
    _sign_in("clerk", "wrong password")
    _sign_in("nobody-here", "guess")
    other = audit_record_standalone(actor=system, action="tests.other", agency_id=other_agency.pk)
    last = audit_record_standalone(actor=system, action="tests.own", agency_id=agency.pk)
    deployment = AuditEvent.objects.filter(agency_id__isnull=True, action__startswith="auth.")
    return {
        "own": own,
        "last": last,
        "other": other,
        "clerk_login": deployment.get(action="auth.login", target_repr="clerk"),
        "clerk_failed": deployment.get(action="auth.login_failed", target_repr="clerk"),
        "outsider_login": deployment.get(action="auth.login", target_repr="outsider"),
        "stranger": deployment.get(action="auth.login_failed", target_repr="nobody-here"),
    }


def _seqs(client, **params) -> list[int]:
    response = client.get(URL, {"limit": 1000, "after_seq": 0, **params})
    assert response.status_code == 200, response.content
    return [event["seq"] for event in response.json()["results"]]


def test_the_auditor_gets_the_dashboards_trail(trail, auditor):
    api = token_client(auditor)
    seqs = _seqs(api)
    for visible in ("own", "last", "clerk_login", "clerk_failed"):
        assert trail[visible].seq in seqs, visible
    for hidden in ("other", "outsider_login", "stranger"):
        assert trail[hidden].seq not in seqs, hidden
    # The same events, in the same order, as the dashboard's audit page reads.
    page = audit_trail_list(user=auditor).order_by("seq")
    assert seqs == list(page.values_list("seq", flat=True))
    # Between the agency's own first and last events, only other agencies' events and
    # sign-ins of people elsewhere or of nobody known are missing.
    window = range(trail["own"].seq, trail["last"].seq + 1)
    missing = {seq for seq in window if seq not in seqs}
    assert missing == {trail[k].seq for k in ("other", "outsider_login", "stranger")}
    # A deployment-wide event comes with no agency, and one by one too.
    event = api.get(f"{URL}{trail['clerk_login'].seq}/")
    assert event.status_code == 200 and event.json()["agency_id"] is None
    assert event.json()["hash"] == trail["clerk_login"].hash
    # ?agency= keeps that agency's own events only.
    by_agency = _seqs(api, agency=trail["own"].agency_id)
    assert trail["clerk_login"].seq not in by_agency and trail["own"].seq in by_agency


def test_no_other_agencys_events_one_by_one(trail, auditor):
    api = token_client(auditor)
    for hidden in ("other", "outsider_login", "stranger"):
        assert api.get(f"{URL}{trail[hidden].seq}/").status_code == 404, hidden


def test_roles_that_may_not_read_the_trail_get_none_of_it(trail, procurement):
    api = token_client(procurement)
    assert api.get(URL).status_code == 403
    # Their own sign-in is no exception: deployment-wide events are "not found" to them,
    # their agency's events forbidden, as for every resource.
    assert api.get(f"{URL}{trail['clerk_login'].seq}/").status_code == 404
    assert api.get(f"{URL}{trail['own'].seq}/").status_code == 403


def test_the_other_agencys_auditor_sees_its_own_people(trail, other_agency):
    from vendors.permissions import role_grant

    theirs = UserFactory(username="their-auditor")
    role_grant(user=theirs, agency=other_agency, role="auditor")
    seqs = _seqs(token_client(theirs))
    assert trail["outsider_login"].seq in seqs and trail["other"].seq in seqs
    for hidden in ("own", "clerk_login", "clerk_failed", "stranger"):
        assert trail[hidden].seq not in seqs, hidden


def test_a_superuser_gets_every_event(trail):
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    seqs = _seqs(token_client(root))
    assert all(event.seq in seqs for event in trail.values())
    assert seqs == list(range(1, seqs[-1] + 1))
