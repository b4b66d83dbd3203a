"""GET /api/v1/exposure/: the trail's answer, agency-scoped, and 400s with field messages."""

import pytest

from tests.api.conftest import token_client
from tests.audit.exposure_history import history  # noqa: F401

pytestmark = pytest.mark.django_db
URL = "/api/v1/exposure/"


def test_auditor_gets_the_exposure_at_a_moment(history, auditor):
    client = token_client(auditor)
    response = client.get(
        URL, {"at": history["t1"].isoformat(), "min_classification": "confidential"}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 1 and body["unauthorised_count"] == 0
    [row] = body["credentials"]
    assert row["credential"]["external_id"] == "acme_alice"
    assert row["system"]["data_classification"] == "restricted"
    assert row["contracts"][0]["reference"] == "C-1"
    assert row["after"]["revoked_verified"] is False and row["after"]["revoked_at"]
    assert body["evidence_seqs"] and set(row["seqs"]) <= set(body["evidence_seqs"])
    at_t3 = client.get(URL, {"at": history["t3"].isoformat(), "system": history["crm"].pk})
    assert at_t3.json()["count"] == 0
    cited = client.get(URL, {"at": history["t1"].isoformat(), "citizen_records": "true"})
    assert cited.json()["count"] == 1


def test_officer_may_ask_procurement_may_not(history, officer, procurement):
    at = history["t1"].isoformat()
    assert token_client(officer).get(URL, {"at": at}).json()["count"] == 2
    refused = token_client(procurement).get(URL, {"at": at})
    assert refused.status_code == 403


def test_other_agencies_see_nothing(history, outsider):
    response = token_client(outsider).get(URL, {"at": history["t1"].isoformat()})
    assert response.status_code == 200 and response.json()["count"] == 0


@pytest.mark.parametrize(
    "params,field",
    [
        ({}, "at"),
        ({"at": "yesterday"}, "at"),
        ({"at": "2026-03-01T12:00:00Z", "min_classification": "secret"}, "min_classification"),
        ({"at": "2026-03-01T12:00:00Z", "system": "crm"}, "system"),
        ({"at": "2026-03-01T12:00:00Z", "vendor": "0"}, "vendor"),
        ({"at": "2026-03-01T12:00:00Z", "citizen_records": "perhaps"}, "citizen_records"),
    ],
)
def test_bad_parameters_are_400_with_field_messages(auditor, params, field):
    response = token_client(auditor).get(URL, params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and error["fields"][field]
