"""Object permissions are the API's: other agencies' rows are invisible (404), everywhere."""

import pytest
from django.urls import reverse

from tests.dashboard.test_pages import _pages
from tests.sessions import signed_in

pytestmark = pytest.mark.django_db

SECRET_NAMES = ("Zeta Secret Contractors", "ZETA-CONTRACT", "zeta-tax-ledger", "zeta_admin")


def _objects_of_other_agency(estate):
    return [
        reverse("vendor_detail", args=[estate["secret_vendor"].pk]),
        reverse("vendor_kill_switch", args=[estate["secret_vendor"].pk]),
        reverse("contract_detail", args=[estate["secret_contract"].pk]),
        reverse("system_detail", args=[estate["secret_system"].pk]),
        reverse("credential_detail", args=[estate["secret_credential"].pk]),
    ]


@pytest.mark.parametrize("persona", ["officer", "procurement", "auditor"])
def test_agency_users_never_see_other_agencies(persona, request, estate):
    client = signed_in(request.getfixturevalue(persona), verified=persona == "officer")
    for url in _pages(estate) + [
        reverse("vendor_list") + "?q=zeta",
        reverse("audit_log") + "?q=zeta",
        reverse("audit_export"),
        reverse("contract_list") + "?q=zeta",
        reverse("contract_create"),
        reverse("contract_import"),
    ]:
        response = client.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        for name in SECRET_NAMES:
            assert name.encode() not in body, (persona, url, name)
    for url in _objects_of_other_agency(estate):
        assert client.get(url).status_code == 404, (persona, url)


def test_other_agency_cannot_post_to_our_objects(outsider_client, estate):
    posts = [
        (reverse("vendor_kill_switch", args=[estate["vendor"].pk]), {"reason": "x", "confirm": 1}),
        (reverse("credential_revoke", args=[estate["live"].pk]), {"reason": "x"}),
        (reverse("contract_terminate", args=[estate["running"].pk]), {"reason": "x"}),
        (
            reverse("contract_end_date", args=[estate["running"].pk]),
            {"end_date": "2030-01-01"},
        ),
    ]
    for url, data in posts:
        assert outsider_client.post(url, data).status_code == 404, url
    estate["live"].refresh_from_db()
    assert estate["live"].status == "active"


def test_auditor_has_no_kill_switch_and_cannot_post_it(auditor_client, estate):
    vendor = estate["vendor"]
    detail = auditor_client.get(reverse("vendor_detail", args=[vendor.pk])).content.decode()
    assert "Kill switch" not in detail
    url = reverse("vendor_kill_switch", args=[vendor.pk])
    assert auditor_client.get(url).status_code == 404
    assert auditor_client.post(url, {"reason": "x", "confirm": "on"}).status_code == 404
    vendor.refresh_from_db()
    assert vendor.status == "active"


def test_read_only_roles_get_404_on_writes(auditor_client, procurement_client, estate):
    assert auditor_client.get(reverse("contract_create")).status_code == 404
    assert auditor_client.get(reverse("contract_import")).status_code == 404
    assert auditor_client.get(reverse("credential_register")).status_code == 404
    assert procurement_client.get(reverse("credential_register")).status_code == 404
    assert procurement_client.get(reverse("audit_log")).status_code == 404
    assert procurement_client.post(reverse("audit_verify")).status_code == 404
    url = reverse("credential_revoke", args=[estate["live"].pk])
    assert procurement_client.post(url, {"reason": "x"}).status_code == 404


def test_pages_require_sign_in(client, estate):
    for url in _pages(estate):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith(reverse("login")), url
