"""A filter set's form holds only the fields of the parameters a request gives
(api.filters.StrictFilterSet._given_fields_only): the same rows and the same errors as
the whole form."""

import pytest
from django.http import QueryDict

from access.models import Credential
from api import filters
from api.filters import CredentialFilter, FindingFilter
from findings.models import Finding

pytestmark = pytest.mark.django_db

CASES = [
    (CredentialFilter, Credential, "system=3&status=active", {"system", "status"}),
    (CredentialFilter, Credential, "", set()),
    (CredentialFilter, Credential, "page=2&page_size=10&ordering=-id", set()),
    (
        CredentialFilter,
        Credential,
        "expires_at_after=2026-01-01T00:00:00Z&contract=4&contract_end_date_before=2027-01-01",
        {"expires_at", "contract", "contract_end_date"},
    ),
    (CredentialFilter, Credential, "status=", {"status"}),  # empty: refused, as before
    (CredentialFilter, Credential, "vendor=1.5", {"vendor"}),  # invalid: refused
    (FindingFilter, Finding, "live=true&kind=orphan", {"live", "kind"}),
    (FindingFilter, Finding, "live=maybe", {"live"}),
    (FindingFilter, Finding, "account=", {"account"}),  # text may be empty
]


def _whole_form(monkeypatch):
    monkeypatch.setattr(filters.StrictFilterSet, "_given_fields_only", lambda self, cls: cls)


@pytest.mark.parametrize(("filterset", "model", "query", "fields"), CASES)
def test_the_form_holds_the_given_fields_and_filters_as_the_whole_form(
    filterset, model, query, fields, monkeypatch
):
    lean = filterset(QueryDict(query), queryset=model.objects.all())
    lean_valid = lean.is_valid()
    assert set(lean.form.fields) == fields
    lean_errors = dict(lean.errors)
    lean_sql = str(lean.qs.query) if lean_valid else None

    _whole_form(monkeypatch)
    whole = filterset(QueryDict(query), queryset=model.objects.all())
    assert whole.is_valid() == lean_valid
    assert dict(whole.errors) == lean_errors
    if lean_valid:
        assert str(whole.qs.query) == lean_sql
