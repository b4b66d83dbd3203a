"""Credentials in the dashboard: edit details, move between contracts (audited, through
access.services), and a contract picker scoped to the vendor that never lists thousands."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from access.models import Credential
from audit.models import AuditEvent
from tests.factories import ContractFactory
from vendors.models import Contract

pytestmark = pytest.mark.django_db


def test_officer_moves_a_credential_to_another_contract(officer_client, estate):
    live, vendor = estate["live"], estate["vendor"]
    successor = ContractFactory(vendor=vendor, reference="ACME-2027", title="Successor")
    url = reverse("credential_edit", args=[live.pk])
    page = officer_client.get(url).content.decode()
    running = estate["running"].pk
    assert f'value="{running}" id="contract-{running}" checked' in page
    assert "ACME-2027 — Successor" in page
    assert "ZETA-CONTRACT" not in page  # another vendor (and agency)

    expires = (timezone.now() + dt.timedelta(days=30)).astimezone(live.system.agency.tz)
    response = officer_client.post(
        url,
        {
            "holder": "Jane Vendor",
            "privileges": "SELECT on citizens",
            "issued_at": "",
            "expires_at": expires.strftime("%Y-%m-%dT%H:%M"),
            "contracts": [successor.pk],
        },
    )
    assert response.status_code == 302
    live.refresh_from_db()
    assert live.holder == "Jane Vendor"
    assert list(live.contracts.all()) == [successor]
    assert live.expires_at == expires.replace(second=0, microsecond=0)
    event = AuditEvent.objects.get(action="credential.updated", target_id=str(live.pk))
    assert event.after["contracts"] == [successor.pk]
    assert event.before["contracts"] == [estate["running"].pk]

    # Saving again unchanged records nothing (the stored minute comes back as it was).
    officer_client.post(
        url,
        {
            "holder": "Jane Vendor",
            "privileges": "SELECT on citizens",
            "expires_at": expires.strftime("%Y-%m-%dT%H:%M"),
            "contracts": [successor.pk],
        },
    )
    assert AuditEvent.objects.filter(action="credential.updated").count() == 1


def test_contract_errors_are_form_errors(officer_client, estate):
    live = estate["live"]
    url = reverse("credential_edit", args=[live.pk])
    empty = officer_client.post(url, {"holder": "x", "contracts": []})
    assert empty.status_code == 400
    assert "This field is required." in empty.content.decode()
    foreign = officer_client.post(url, {"holder": "x", "contracts": [estate["secret_contract"].pk]})
    assert foreign.status_code == 400
    other_vendor = ContractFactory(vendor__agency=live.system.agency)
    wrong = officer_client.post(url, {"holder": "x", "contracts": [other_vendor.pk]})
    assert wrong.status_code == 400
    assert "Every contract must belong to the credential&#x27;s vendor." in wrong.content.decode()
    live.refresh_from_db()
    assert list(live.contracts.all()) == [estate["running"]]


def test_picker_lists_a_page_and_searches(officer_client, estate):
    vendor = estate["vendor"]
    today = timezone.localdate()
    Contract.objects.bulk_create(
        Contract(
            vendor=vendor,
            reference=f"BULK-{i:04d}",
            start_date=today,
            end_date=today + dt.timedelta(days=30 + i),
            access_ends_at=timezone.now() + dt.timedelta(days=31 + i),
        )
        for i in range(300)
    )
    url = reverse("credential_contract_picker")
    whole = officer_client.get(url, {"vendor": vendor.pk}, HTTP_HX_REQUEST="true")
    body = whole.content.decode()
    assert body.count('name="contracts"') == 20
    assert "more running contracts match" in body
    assert 'id="contract-search"' in body

    chosen = Contract.objects.get(reference="BULK-0299")
    found = officer_client.get(
        url,
        {"vendor": vendor.pk, "contract_q": "bulk-0150", "contracts": [chosen.pk]},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="contract-picker-results",
    ).content.decode()
    assert 'id="contract-search"' not in found  # only the results: the box keeps focus
    # The ticked one stays in the chosen list, which a search does not replace.
    assert "BULK-0150" in found and "BULK-0299" not in found
    assert found.count('name="contracts"') == 1
    whole = officer_client.get(
        url, {"vendor": vendor.pk, "contracts": [chosen.pk]}, HTTP_HX_REQUEST="true"
    ).content.decode()
    chosen_part = whole.split('data-testid="contracts-chosen"')[1].split("contract-search")[0]
    assert "BULK-0299" in chosen_part and "checked" in chosen_part

    # Another agency's vendor shows nothing, and the register form starts empty.
    other = officer_client.get(url, {"vendor": estate["secret_vendor"].pk}).content.decode()
    assert "ZETA" not in other
    register = officer_client.get(reverse("credential_register")).content.decode()
    assert "Choose a vendor first" in register
    assert register.count('name="contracts"') == 0


def test_register_with_the_picker(officer_client, estate):
    response = officer_client.post(
        reverse("credential_register"),
        {
            "vendor": estate["vendor"].pk,
            "system": estate["db"].pk,
            "kind": "database_role",
            "external_id": "acme_new",
        },
    )
    # No contract ticked: the form comes back listing the vendor's contracts.
    assert response.status_code == 400
    body = response.content.decode()
    assert "ACME-2026" in body and "This field is required." in body


def test_who_may_edit(procurement_client, auditor_client, outsider_client, estate):
    live = estate["live"]
    for client in (procurement_client, auditor_client, outsider_client):
        assert client.get(reverse("credential_edit", args=[live.pk])).status_code == 404
    for client in (procurement_client, auditor_client):
        detail = client.get(reverse("credential_detail", args=[live.pk])).content.decode()
        assert "Edit details or contracts" not in detail
        assert client.get(reverse("credential_contract_picker")).status_code == 404


def test_adopting_an_orphan_uses_the_vendor_scoped_picker(officer_client, estate):
    from django.utils import timezone

    from findings.models import Finding

    vendor = estate["vendor"]
    today = timezone.localdate()
    Contract.objects.bulk_create(
        Contract(
            vendor=vendor,
            reference=f"MANY-{i:04d}",
            start_date=today,
            end_date=today + dt.timedelta(days=30),
            access_ends_at=timezone.now() + dt.timedelta(days=31),
        )
        for i in range(500)
    )
    orphan = Finding.objects.create(
        kind="orphan",
        severity="high",
        system=estate["db"],
        account="acme_unknown",
        first_seen_at=timezone.now(),
        last_seen_at=timezone.now(),
    )
    url = reverse("finding_detail", args=[orphan.pk])
    page = officer_client.get(url).content.decode()
    assert "Choose a vendor first" in page
    assert page.count("MANY-") == 0  # no list of every contract of the agency
    response = officer_client.post(
        reverse("finding_adopt", args=[orphan.pk]),
        {"vendor": vendor.pk, "contracts": [estate["running"].pk], "holder": "ops"},
    )
    assert response.status_code == 302
    credential = Credential.objects.get(external_id="acme_unknown")
    assert list(credential.contracts.all()) == [estate["running"]]
