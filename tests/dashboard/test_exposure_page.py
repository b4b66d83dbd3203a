"""The exposure page: auditors and officers ask, the trail answers, bad input is a form error."""

import re

import pytest
from django.urls import reverse

from tests.audit.exposure_history import history  # noqa: F401
from tests.sessions import signed_in

pytestmark = pytest.mark.django_db
URL = reverse("audit_exposure")
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_STYLE = re.compile(r"<style\b|\sstyle=", re.I)


def _at(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")


def test_auditor_sees_who_could_reach_the_citizen_system(history, auditor):
    client = signed_in(auditor, verified=False)
    response = client.get(URL, {"at": _at(history["t1"]), "min_classification": "confidential"})
    assert response.status_code == 200
    html = response.content.decode()
    assert not INLINE_SCRIPT.search(html) and not INLINE_STYLE.search(html)
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    table = html[html.index('data-testid="exposure-table"') :]
    assert "acme_alice" in table and "citizen-crm" in table and "restricted" in table
    assert "C-1" in table and "confirmed by officer" in table
    assert "bot" not in table  # the wiki is public
    assert "<caption>" in table and 'scope="col"' in table and 'scope="row"' in table


def test_officer_asks_at_a_later_moment(history, officer):
    client = signed_in(officer)
    html = client.get(URL, {"at": _at(history["t3"]), "system": history["crm"].pk}).content
    assert b"0 credentials could reach" in html
    html = client.get(URL, {"at": _at(history["t4"]), "system": history["crm"].pk}).content
    assert b"acme_alice_2" in html and b"No revocation recorded since" in html


def test_the_empty_form_asks_without_errors(auditor):
    response = signed_in(auditor, verified=False).get(URL)
    assert response.status_code == 200
    assert b"usa-error-message" not in response.content
    assert b'type="datetime-local"' in response.content


@pytest.mark.parametrize(
    "params",
    [{"at": "not a time"}, {"at": "2026-03-01T12:00", "system": "999999"}, {"system": "1"}],
)
def test_bad_input_is_a_form_error(auditor, params):
    response = signed_in(auditor, verified=False).get(URL, params)
    assert response.status_code == 400
    assert b"usa-error-message" in response.content and b'aria-invalid="true"' in response.content


def test_procurement_and_outsiders(history, procurement, outsider):
    assert signed_in(procurement, verified=False).get(URL).status_code == 404
    html = signed_in(outsider).get(URL, {"at": _at(history["t1"])}).content
    assert b"0 credentials could reach" in html and b"acme" not in html
