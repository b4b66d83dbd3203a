"""SCIM connector against scim2-server's test server, run as a real HTTP service."""

import json

import httpx2
import pytest

from revocation.connectors.base import ConnectorError, connector_for
from revocation.connectors.scim import relative_endpoint
from tests.revocation.connectors.servers import (
    CallCounter,
    credentials,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("on_revoke", ["deactivate", "delete"])
def test_revoke_deactivates_or_deletes_the_user(scim_server, scim_system, on_revoke):
    user_id = scim_server.add_user()
    (credential,) = credentials(scim_system(on_revoke=on_revoke), [user_id])

    with connector_for(credential.system) as connector:
        assert connector.is_active(credential)
        connector.revoke(credential)
        assert not connector.is_active(credential)

    user = scim_server.user(user_id)
    if on_revoke == "delete":
        assert user is None
    else:
        assert user["active"] is False


def test_list_accounts_reports_inactive_users(scim_server, scim_system):
    active, revoked = scim_server.add_user(), scim_server.add_user()
    system = scim_system()
    (credential,) = credentials(system, [revoked])
    with connector_for(system) as connector:
        connector.revoke(credential)
        accounts = {a.external_id: a for a in connector.list_accounts()}
    assert accounts[active].active is True
    assert accounts[revoked].active is False


@pytest.mark.parametrize("on_revoke", ["deactivate", "delete"])
def test_batch_of_fifty_is_one_bulk_request_and_one_filtered_read(
    scim_server, scim_system, monkeypatch, on_revoke
):
    ids = scim_server.add_users(50)
    system = scim_system(on_revoke=on_revoke)
    creds = credentials(system, ids)
    with connector_for(system) as connector:
        assert connector.still_active(creds) == {c.pk for c in creds}
        sent = CallCounter(monkeypatch, httpx2.Client, "send")
        results = connector.revoke_many(creds)
        assert connector.still_active(creds) == set()
    assert set(results.values()) == {None}
    assert sent.calls == 2  # POST /Bulk, GET /Users?filter=id eq ... or ...
    for user_id in ids[:5]:
        user = scim_server.user(user_id)
        assert user is None if on_revoke == "delete" else user["active"] is False


def test_a_truncated_filtered_read_never_passes_for_revoked(scim_server, scim_system):
    ids = scim_server.add_users(12)
    system = scim_system()
    creds = credentials(system, ids)
    with connector_for(system) as connector:
        query = connector.scim.query

        def first_page_only(*args, **kwargs):
            # A service whose page limit is below the chunk: totalResults says 12,
            # Resources holds 5.
            found = query(*args, **kwargs)
            if kwargs.get("query_parameters") and kwargs["query_parameters"].filter:
                found.resources = (found.resources or [])[:5]
            return found

        connector.scim.query = first_page_only
        assert connector.still_active(creds) == {c.pk for c in creds}


def test_bulk_paths_hold_each_id_as_one_segment(scim_server, scim_system, monkeypatch):
    user_id = scim_server.add_user()
    system = scim_system()
    creds = credentials(system, [user_id, f"x/../{user_id}?attributes=id"])
    sent = []
    send = httpx2.Client.send

    def recording(self, request, *args, **kwargs):
        sent.append(request)
        return send(self, request, *args, **kwargs)

    with connector_for(system) as connector:
        monkeypatch.setattr(httpx2.Client, "send", recording)
        connector.revoke_many(creds)
    (bulk,) = [r for r in sent if r.url.path.endswith("/Bulk")]
    paths = [op["path"] for op in json.loads(bulk.content)["Operations"]]
    assert paths == [f"/Users/{user_id}", f"/Users/x%2F..%2F{user_id}%3Fattributes=id"]


def test_no_token_is_refused_and_permanent(scim_server, scim_system):
    # A wrong token is in the contract (test_contract.py); a missing one is SCIM's own case.
    user_id = scim_server.add_user()
    (credential,) = credentials(scim_system(token=""), [user_id])
    with pytest.raises(ConnectorError) as caught, connector_for(credential.system) as connector:
        connector.revoke(credential)
    assert caught.value.permanent is True
    assert scim_server.user(user_id)["active"] is True


# An independent implementation (scimmy, npm), also as services in the field answer ------
def test_scimmy_deactivates_and_reads_back(scimmy_server, scimmy_system):
    user_id = scimmy_server.add_user()
    (credential,) = credentials(scimmy_system(), [user_id])
    with connector_for(credential.system) as connector:
        assert connector.still_active([credential]) == {credential.pk}
        connector.revoke(credential)
        assert connector.still_active([credential]) == set()
    assert scimmy_server.user(user_id)["active"] is False


def test_absolute_endpoint_paths_are_joined_once(scimmy_quirky_system, monkeypatch):
    # The service announces "/scim/v2/Users", its base URL already ends in /scim/v2.
    system, server = scimmy_quirky_system("absolute-endpoints")
    user_id = server.add_user()
    (credential,) = credentials(system, [user_id])
    paths = []
    send = httpx2.Client.send

    def recording(self, request, *args, **kwargs):
        paths.append(request.url.path)
        return send(self, request, *args, **kwargs)

    monkeypatch.setattr(httpx2.Client, "send", recording)
    with connector_for(system) as connector:
        connector.revoke(credential)
        assert not connector.is_active(credential)
    assert f"/scim/v2/Users/{user_id}" in paths
    assert not any("/scim/v2/scim/v2" in path for path in paths)
    assert server.user(user_id)["active"] is False


@pytest.mark.parametrize(
    ("base", "endpoint", "joined"),
    [
        ("http://h/scim/v2", "/Users", "/Users"),
        ("http://h/scim/v2", "Users", "/Users"),
        ("http://h/scim/v2/", "/scim/v2/Users", "/Users"),
        ("http://h/scim/v2", "http://h/scim/v2/Users", "/Users"),
        ("http://h/v2", "/v2x/Users", "/v2x/Users"),  # a prefix of a segment is not the base
        ("http://h", "/Users", "/Users"),
        ("http://h/scim/v2", "http://other/scim/v2/Users", "http://other/scim/v2/Users"),
    ],
)
def test_relative_endpoint(base, endpoint, joined):
    assert relative_endpoint(base, endpoint) == joined


def test_patch_falls_back_to_the_value_form(scimmy_quirky_system, monkeypatch):
    system, server = scimmy_quirky_system("value-only")
    user_id = server.add_user()
    (credential,) = credentials(system, [user_id])
    bodies = []
    send = httpx2.Client.send

    def recording(self, request, *args, **kwargs):
        if request.method == "PATCH":
            bodies.append(json.loads(request.content)["Operations"])
        return send(self, request, *args, **kwargs)

    monkeypatch.setattr(httpx2.Client, "send", recording)
    with connector_for(system) as connector:
        connector.revoke(credential)
        assert not connector.is_active(credential)
    assert bodies[-1] == [{"op": "replace", "value": {"active": False}}]
    assert server.user(user_id)["active"] is False


def test_a_missing_user_on_a_service_refusing_paths_is_already_gone(scimmy_quirky_system):
    system, server = scimmy_quirky_system("value-only")
    (credential,) = credentials(system, ["no-such-user"])
    with connector_for(system) as connector:
        connector.revoke(credential)  # 404 on both forms: already gone, not an error


def test_errors_carry_the_librarys_cause(scimmy_quirky_system):
    # django-scim2 0.23 leaves totalResults out of list responses.
    system, server = scimmy_quirky_system("no-total")
    server.add_user()
    with pytest.raises(ConnectorError) as caught, connector_for(system) as connector:
        connector.list_accounts()
    message = str(caught.value)
    assert "totalResults" in message
    assert caught.value.permanent is True
    assert "\n" not in message and len(message) < 500
