"""Every page renders for the people who use it, within a bounded number of queries."""

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_STYLE = re.compile(r"<style\b|\sstyle=", re.I)


def _pages(estate):
    return [
        reverse("home"),
        reverse("vendor_list"),
        reverse("vendor_list") + "?q=acme&status=active",
        reverse("vendor_detail", args=[estate["vendor"].pk]),
        reverse("vendor_kill_switch", args=[estate["vendor"].pk]),
        reverse("contract_list"),
        reverse("contract_detail", args=[estate["running"].pk]),
        reverse("system_list"),
        reverse("system_list") + "?lifecycle=active",
        reverse("system_detail", args=[estate["db"].pk]),
        reverse("credential_detail", args=[estate["live"].pk]),
        reverse("credential_register"),
        reverse("revocation_queue"),
        reverse("finding_list"),
        reverse("finding_list") + "?severity=critical&status=",
        reverse("finding_detail", args=[estate["finding"].pk]),
        reverse("audit_log"),
        reverse("audit_log") + "?q=acme&action=vendor",
    ]


def test_officer_sees_every_page_without_inline_code(officer_client, estate):
    for url in _pages(estate):
        response = officer_client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert not INLINE_SCRIPT.search(html), url
        assert not INLINE_STYLE.search(html), url
        assert "Zeta" not in html, url
        csp = response["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp


def test_home_shows_counts_overdue_and_failed(officer_client, estate):
    html = officer_client.get(reverse("home")).content.decode()
    assert "acme_old" in html  # overdue: its only contract ended two days ago
    assert "2 days" in html  # ... and how long it has been exposed
    assert "helpdesk" in html
    assert "citizen-db" in html  # failing connector
    assert "ACME-2026" not in html or "in 90 days" in html


def test_procurement_pages(procurement_client, estate):
    for url in (reverse("contract_create"), reverse("contract_import"), reverse("home")):
        assert procurement_client.get(url).status_code == 200, url


def test_htmx_vendor_search_returns_only_the_table(officer_client, estate):
    response = officer_client.get(reverse("vendor_list") + "?q=acme", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "Acme Data Services" in html and "<html" not in html


def test_query_counts_are_bounded(officer_client, estate, django_assert_max_num_queries):
    # Home: 20, 3 for the policy targets (dashboard.policy_targets), 1 for whose
    # connector errors the user may read (failed revocations say why they failed) and
    # 1 for open target outages (one query for all agencies, not one per agency).
    with django_assert_max_num_queries(25):
        officer_client.get(reverse("home"))
    with django_assert_max_num_queries(15):
        officer_client.get(reverse("vendor_list"))
    with django_assert_max_num_queries(15):
        officer_client.get(reverse("finding_list"))
    with django_assert_max_num_queries(20):
        officer_client.get(reverse("finding_detail", args=[estate["finding"].pk]))
    with django_assert_max_num_queries(20):
        officer_client.get(reverse("vendor_detail", args=[estate["vendor"].pk]))
