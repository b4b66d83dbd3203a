"""A list's ``count``: exact for small results, kept a few seconds for large ones
(api.pagination.CountKeepingPaginator), never shared between callers who see other rows,
and never the reason a page that exists is refused."""

import pytest

from access.models import Credential
from api import pagination
from tests.api.conftest import token_client
from tests.factories import CredentialFactory, SystemFactory, VendorFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _large_from_three_rows(monkeypatch):
    # So a handful of rows shows the behaviour (tests/api/conftest.py empties the counts).
    monkeypatch.setattr(pagination, "COUNT_EXACT_UP_TO", 2)


def _credentials(agency, n, tag="c"):
    vendor = VendorFactory(agency=agency)
    system = SystemFactory(agency=agency)
    for k in range(n):
        CredentialFactory(vendor=vendor, system=system, external_id=f"{tag}{k}")
    return vendor, system


def _count(client, url="/api/v1/credentials/"):
    response = client.get(url)
    assert response.status_code == 200, response.content
    return response.json()


def test_a_large_count_is_kept_while_the_rows_stay_current(agency, officer):
    vendor, system = _credentials(agency, 3)
    client = token_client(officer)
    assert _count(client)["count"] == 3
    CredentialFactory(vendor=vendor, system=system, external_id="new")
    body = _count(client)
    assert body["count"] == 3  # kept
    assert "new" in {row["external_id"] for row in body["results"]}  # the rows are not
    pagination._counts.clear()  # what COUNT_SECONDS later looks like
    assert _count(client)["count"] == 4


def test_a_small_count_is_always_exact(agency, officer):
    vendor, system = _credentials(agency, 2)
    client = token_client(officer)
    assert _count(client)["count"] == 2
    CredentialFactory(vendor=vendor, system=system, external_id="new")
    assert _count(client)["count"] == 3
    CredentialFactory(vendor=vendor, system=system, external_id="newer")
    assert _count(client)["count"] == 3  # now large, so kept


def test_each_filter_and_each_callers_rows_have_their_own_count(
    agency, other_agency, officer, outsider
):
    _credentials(agency, 3)
    _, other_system = _credentials(other_agency, 5, tag="o")
    mine, theirs = token_client(officer), token_client(outsider)
    assert _count(mine)["count"] == 3
    assert _count(theirs)["count"] == 5
    assert _count(mine)["count"] == 3
    assert _count(theirs, f"/api/v1/credentials/?system={other_system.pk}")["count"] == 5
    assert _count(theirs, "/api/v1/credentials/?status=revoked")["count"] == 0


def test_a_page_past_a_kept_count_is_counted_again(agency, officer):
    vendor, system = _credentials(agency, 3)
    client = token_client(officer)
    assert _count(client, "/api/v1/credentials/?page_size=1")["count"] == 3
    CredentialFactory(vendor=vendor, system=system, external_id="new")
    body = _count(client, "/api/v1/credentials/?page_size=1&page=4")
    assert body["count"] == 4
    assert [row["external_id"] for row in body["results"]] == ["new"]
    assert body["next"] is None
    # Past the fresh count too: the usual 404.
    assert client.get("/api/v1/credentials/?page_size=1&page=5").status_code == 404


def test_a_page_emptied_since_the_count_was_kept_is_not_found(agency, officer):
    _credentials(agency, 4)
    client = token_client(officer)
    url = "/api/v1/credentials/?status=active&page_size=2"
    assert _count(client, url)["count"] == 4
    Credential.objects.filter(external_id__in=["c2", "c3"]).update(status="pending")
    assert _count(client, url)["count"] == 4  # kept; page 1 is still there
    assert client.get(f"{url}&page=2").status_code == 404  # counted again: gone
    assert _count(client, url)["count"] == 2


def test_the_schema_says_how_exact_count_is():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    listing = schema["components"]["schemas"]["PaginatedCredentialList"]
    assert listing["properties"]["count"]["description"] == pagination.COUNT_DESCRIPTION
    assert "seconds old" in pagination.COUNT_DESCRIPTION
