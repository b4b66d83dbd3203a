"""Open target outages are shown to people, not only written to the audit trail: on home
and on the system's page (since when, the last error, the next probe, the credentials
waiting), and in the API as the system's read-only ``target_state``. The target's own
words follow the connector-error rule (VIEW_AUDIT in the system's agency)."""

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from access.models import Credential
from revocation.connectors.base import ConnectorError
from revocation.selectors import CONNECTOR_ERROR_HIDDEN
from revocation.services.breaker import outage_close, outage_open
from tests.api.conftest import token_client
from tests.factories import CredentialFactory
from tests.sessions import signed_in

pytestmark = pytest.mark.django_db

REFUSED = "could not connect to server: Connection refused (127.0.0.1:5999)"


@pytest.fixture
def outage(estate, settings):
    """citizen-db's target refused a batch of two pending credentials."""
    settings.SUNDOWN_SECURITY_ALERT_EMAILS = ["soc@agency.example"]
    db = estate["db"]
    for name in ("acme_wait_1", "acme_wait_2"):
        CredentialFactory(
            vendor=estate["vendor"],
            system=db,
            external_id=name,
            contracts=[estate["running"]],
            status=Credential.Status.PENDING,
            revocation_requested_at=timezone.now(),
        )
    with transaction.atomic():
        assert outage_open(system=db, error=ConnectorError(REFUSED, unreachable=True), deferred=2)
    return estate


def _html(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def test_security_staff_see_the_outage_on_home_and_on_the_systems_page(officer, outage):
    client = signed_in(officer)
    home = _html(client, reverse("home"))
    assert 'data-testid="target-outages"' in home
    assert "Targets not answering (1)" in home
    assert "citizen-db" in home and REFUSED in home
    assert "Credentials waiting" in home
    page = _html(client, reverse("system_detail", args=[outage["db"].pk]))
    assert 'data-testid="target-outage"' in page
    assert "The target is not answering" in page and REFUSED in page
    assert "<dd>2</dd>" in page  # the two pending credentials wait
    # A system whose target answers has no such section.
    other = _html(client, reverse("system_detail", args=[outage["desk"].pk]))
    assert 'data-testid="target-outage"' not in other


def test_without_the_audit_permission_the_outage_shows_without_the_targets_words(
    procurement, outage
):
    client = signed_in(procurement, verified=False)
    for url in (reverse("home"), reverse("system_detail", args=[outage["db"].pk])):
        html = _html(client, url)
        assert "citizen-db" in html and REFUSED not in html
        assert CONNECTOR_ERROR_HIDDEN in html


def test_another_agency_never_sees_the_outage(outsider, outage):
    home = _html(signed_in(outsider), reverse("home"))
    assert "citizen-db" not in home and 'data-testid="target-outages"' not in home


def test_the_section_goes_when_the_target_answers_again(officer, outage):
    outage_close(system=outage["db"])
    home = _html(signed_in(officer), reverse("home"))
    assert 'data-testid="target-outages"' not in home


def test_the_api_gives_each_system_its_target_state(officer, procurement, outage):
    url = f"/api/v1/systems/{outage['db'].pk}/"
    state = token_client(officer).get(url).json()["target_state"]
    assert state["state"] == "unreachable"
    assert state["last_error"] == REFUSED
    assert state["since"] and state["next_probe_at"]
    assert state["failed_probes"] == 0 and state["credentials_waiting"] == 2
    # Procurement reads the neutral label, as for every connector error.
    hidden = token_client(procurement).get(url).json()["target_state"]
    assert hidden["state"] == "unreachable" and hidden["last_error"] == CONNECTOR_ERROR_HIDDEN
    listed = {
        row["name"]: row["target_state"]["state"]
        for row in token_client(officer).get("/api/v1/systems/").json()["results"]
    }
    assert listed == {"citizen-db": "unreachable", "helpdesk": "answering"}
    outage_close(system=outage["db"])
    assert token_client(officer).get(url).json()["target_state"] == {
        "state": "answering",
        "since": None,
        "last_error": "",
        "next_probe_at": None,
        "failed_probes": 0,
        "credentials_waiting": 0,
    }


def test_the_openapi_schema_documents_target_state(officer):
    schema = token_client(officer).get("/api/schema/?format=json").json()
    system = schema["components"]["schemas"]["System"]
    assert "target_state" in system["properties"]
    assert "target_state" in system.get("required", []) or system["properties"]["target_state"].get(
        "readOnly", True
    )
    state = schema["components"]["schemas"]["TargetState"]["properties"]
    assert set(state) == {
        "state",
        "since",
        "last_error",
        "next_probe_at",
        "failed_probes",
        "credentials_waiting",
    }
