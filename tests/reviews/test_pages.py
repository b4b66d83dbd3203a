"""Review pages: the reviewer's queue (a page at a time) and the officers' pages."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.actor import Actor
from audit.models import AuditEvent
from reviews.models import ReviewCampaign, ReviewItem
from reviews.services import review_campaign_open
from tests.factories import CredentialFactory, SystemFactory, UserFactory, VendorFactory
from tests.sessions import signed_in
from vendors.permissions import role_grant

pytestmark = pytest.mark.django_db


@pytest.fixture
def sponsor(agency):
    user = UserFactory(username="sponsor")
    role_grant(user=user, agency=agency, role="auditor")
    return user


def campaign_with(agency, sponsor, n: int, other=None):
    vendor = VendorFactory(agency=agency, sponsor=sponsor)
    system = SystemFactory(agency=agency)
    for _ in range(n):
        CredentialFactory(vendor=vendor, system=system)
    if other is not None:
        CredentialFactory(vendor=VendorFactory(agency=agency, sponsor=other), system=system)
    return review_campaign_open(
        actor=Actor.system("test"),
        agency=agency,
        name="Yearly",
        deadline=timezone.now() + dt.timedelta(days=7),
    )


def test_the_queue_shows_only_my_items_and_a_page_is_one_action(agency, sponsor, officer):
    campaign = campaign_with(agency, sponsor, 60, other=officer)
    client = signed_in(sponsor, verified=False)
    html = client.get(reverse("review_queue")).content.decode()
    assert "60 item(s) waiting" in html and "Page 1 of 2" in html
    theirs = ReviewItem.objects.get(campaign=campaign, reviewer=officer)
    assert theirs.credential.external_id not in html
    page_ids = list(
        ReviewItem.objects.filter(campaign=campaign, reviewer=sponsor)
        .order_by("pk")
        .values_list("pk", flat=True)[:50]
    )
    assert f'value="{",".join(map(str, page_ids))}"' in html
    # Keep the whole page with one reason; another reviewer's id smuggled in is ignored.
    response = client.post(
        reverse("review_decide"),
        {
            "all_on_page": "on",
            "page_items": ",".join(map(str, [*page_ids, theirs.pk])),
            "decision": "keep",
            "reason": "Support contract renewed",
            "page": "1",
        },
    )
    assert response.status_code == 302
    assert ReviewItem.objects.filter(decision="keep").count() == 50
    theirs.refresh_from_db()
    assert theirs.decision == "pending"
    assert AuditEvent.objects.filter(action="review.item_decided").count() == 50
    # Revoke two ticked items; keep without a reason is refused.
    rest = list(
        ReviewItem.objects.filter(reviewer=sponsor, decision="pending").values_list("pk", flat=True)
    )
    client.post(reverse("review_decide"), {"items": rest[:2], "decision": "keep", "reason": ""})
    assert ReviewItem.objects.filter(pk__in=rest[:2], decision="pending").count() == 2
    client.post(reverse("review_decide"), {"items": rest[:2], "decision": "revoke", "reason": ""})
    assert ReviewItem.objects.filter(pk__in=rest[:2], decision="revoke").count() == 2
    assert "8 item(s) waiting" in client.get(reverse("review_queue")).content.decode()


def test_the_queue_costs_the_same_queries_on_any_page(agency, sponsor):
    campaign_with(agency, sponsor, 120)
    client = signed_in(sponsor, verified=False)
    counts = []
    for page in (1, 3):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(reverse("review_queue"), {"page": page})
        assert response.status_code == 200
        counts.append(len(ctx))
    assert counts[0] == counts[1] and counts[0] <= 12, counts


def test_an_officer_opens_reassigns_and_closes_a_campaign(agency, sponsor, officer, auditor):
    vendor = VendorFactory(agency=agency)  # no sponsor: its items wait unassigned
    credential = CredentialFactory(vendor=vendor, system=SystemFactory(agency=agency))
    client = signed_in(officer)
    deadline = (timezone.now() + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        reverse("review_campaign_open"),
        {
            "agency": agency.pk,
            "name": "Spot check",
            "scope": "vendor",
            "vendor": vendor.pk,
            "deadline": deadline,
            "on_no_answer": "revoke",
        },
    )
    campaign = ReviewCampaign.objects.get(name="Spot check")
    assert response.status_code == 302 and response.url == reverse(
        "review_campaign", args=[campaign.pk]
    )
    bad = client.post(
        reverse("review_campaign_open"),
        {
            "agency": agency.pk,
            "name": "x",
            "scope": "vendor",
            "deadline": deadline,
            "on_no_answer": "revoke",
        },
    )
    assert bad.status_code == 400 and "names its vendor" in bad.content.decode()
    page = client.get(reverse("review_campaign", args=[campaign.pk])).content.decode()
    assert "unassigned" in page and credential.external_id in page
    client.post(reverse("review_campaign_reassign", args=[campaign.pk]), {"to_reviewer": "sponsor"})
    assert ReviewItem.objects.get(campaign=campaign).reviewer == sponsor
    # An auditor sees the campaign but cannot manage it.
    seen = signed_in(auditor, verified=False).get(reverse("review_campaign", args=[campaign.pk]))
    assert seen.status_code == 200 and "Close campaign" not in seen.content.decode()
    denied = signed_in(auditor, verified=False).post(
        reverse("review_campaign_close", args=[campaign.pk])
    )
    assert denied.status_code == 404
    client.post(reverse("review_campaign_close", args=[campaign.pk]))
    campaign.refresh_from_db()
    credential.refresh_from_db()
    assert campaign.status == "closed" and credential.status == "pending"


def test_another_agency_sees_nothing(agency, sponsor, outsider):
    campaign = campaign_with(agency, sponsor, 2)
    client = signed_in(outsider)
    assert client.get(reverse("review_campaign", args=[campaign.pk])).status_code == 404
    assert "Yearly" not in client.get(reverse("review_campaigns")).content.decode()
    item = ReviewItem.objects.filter(campaign=campaign).first()
    client.post(reverse("review_decide"), {"items": [item.pk], "decision": "revoke"})
    item.refresh_from_db()
    assert item.decision == "pending"


def test_officers_set_the_security_contact_and_send_a_link(agency, officer, auditor, outsider):
    from django.core import mail
    from django.test import TestCase

    from reviews.models import RosterAttestation

    vendor = VendorFactory(agency=agency, name="Acme")
    CredentialFactory(vendor=vendor, system=SystemFactory(agency=agency), holder="Ann")
    client = signed_in(officer)
    bad = client.post(
        reverse("attestation_contact", args=[vendor.pk]), {"security_contact_email": "nope"}
    )
    assert bad.status_code == 302
    client.post(
        reverse("attestation_contact", args=[vendor.pk]),
        {"security_contact_name": "Sam", "security_contact_email": "sec@acme.example"},
    )
    vendor.refresh_from_db()
    assert vendor.security_contact_email == "sec@acme.example"
    change = AuditEvent.objects.get(action="vendor.updated", target_id=str(vendor.pk))
    assert change.after["security_contact_email"] == "sec@acme.example"
    with TestCase.captureOnCommitCallbacks(execute=True):
        client.post(reverse("attestation_send", args=[vendor.pk]))
    assert mail.outbox[-1].to == ["sec@acme.example"]
    page = client.get(reverse("attestation_list")).content.decode()
    assert "Waiting for the contact" in page and "Send link now" in page
    seen = signed_in(auditor, verified=False).get(reverse("attestation_list")).content.decode()
    assert "Acme" in seen and "Send link now" not in seen and "Set contact" not in seen
    denied = signed_in(auditor, verified=False).post(reverse("attestation_send", args=[vendor.pk]))
    assert denied.status_code == 404
    assert "Acme" not in signed_in(outsider).get(reverse("attestation_list")).content.decode()
    assert RosterAttestation.objects.count() == 1


def test_an_officer_schedules_a_recurring_campaign(agency, officer):
    from reviews.models import ReviewSchedule

    client = signed_in(officer)
    bad = client.post(
        reverse("review_schedule_create"),
        {
            "schedule-agency": agency.pk,
            "schedule-name": "Quarterly privileged",
            "schedule-scope": "privileged",
            "schedule-interval_days": 90,
            "schedule-duration_days": 120,
            "schedule-on_no_answer": "revoke",
        },
    )
    assert bad.status_code == 400 and "longer than the interval" in bad.content.decode()
    response = client.post(
        reverse("review_schedule_create"),
        {
            "schedule-agency": agency.pk,
            "schedule-name": "Quarterly privileged",
            "schedule-scope": "privileged",
            "schedule-interval_days": 90,
            "schedule-duration_days": 14,
            "schedule-on_no_answer": "escalate",
        },
    )
    assert response.status_code == 302
    schedule = ReviewSchedule.objects.get()
    assert (schedule.interval_days, schedule.on_no_answer) == (90, "escalate")
    assert AuditEvent.objects.filter(action="review.schedule_created").count() == 1
    assert "Quarterly privileged" in client.get(reverse("review_campaigns")).content.decode()


def test_review_times_are_the_agencys_with_utc_in_the_title(agency, sponsor, officer):
    """A deadline is typed and shown as the agency's wall clock (Europe/Berlin here),
    with the UTC moment in the title, on every review page."""
    vendor = VendorFactory(agency=agency, sponsor=sponsor)
    CredentialFactory(vendor=vendor, system=SystemFactory(agency=agency), last_used_at=None)
    client = signed_in(officer)
    form = client.get(reverse("review_campaigns")).content.decode()
    assert "Time in Europe/Berlin." in form
    response = client.post(
        reverse("review_campaign_open"),
        {
            "agency": agency.pk,
            "name": "Winter check",
            "scope": "vendor",
            "vendor": vendor.pk,
            "deadline": "2030-01-15T17:00",
            "on_no_answer": "revoke",
        },
    )
    assert response.status_code == 302
    campaign = ReviewCampaign.objects.get(name="Winter check")
    assert campaign.deadline == dt.datetime(2030, 1, 15, 16, 0, tzinfo=dt.UTC)  # CET = UTC+1
    shown = '<time datetime="2030-01-15T16:00:00Z" title="2030-01-15 16:00:00 UTC">'
    page = client.get(reverse("review_campaign", args=[campaign.pk])).content.decode()
    assert f"{shown}2030-01-15 17:00 CET</time>" in page
    assert (
        f"{shown}2030-01-15 17:00 CET</time>"
        in client.get(reverse("review_campaigns")).content.decode()
    )
    queue = signed_in(sponsor, verified=False).get(reverse("review_queue")).content.decode()
    assert f"{shown}2030-01-15 17:00 CET</time>" in queue and "never seen" in queue


def test_no_template_renders_a_moment_with_the_date_filter():
    """Moments go through {% when %} / {% ago %} (agency zone, UTC in the title); the
    date filter would show the server's zone. Dates (contract ends) are days already."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "templates"
    moment = re.compile(r"\{\{\s*[\w.]*(_at|deadline)\|date")
    offenders = [
        f"{path.relative_to(root)}: {match.group()}"
        for path in [*root.rglob("*.html"), *root.rglob("*.txt")]
        for match in moment.finditer(path.read_text())
    ]
    assert offenders == []


def test_mail_gives_the_agencys_time_and_utc(agency):
    from django.template.loader import render_to_string

    campaign = ReviewCampaign(
        agency=agency, name="Q3", deadline=dt.datetime(2030, 7, 1, 21, 30, tzinfo=dt.UTC)
    )
    text = render_to_string(
        "reviews/mail/reminder.txt", {"campaign": campaign, "pending": 2, "days": 3}
    )
    # Europe/Berlin in summer is UTC+2; past midnight there the UTC date is named too.
    assert "the deadline is 2030-07-01 23:30 CEST (21:30 UTC)" in text
    campaign.deadline = dt.datetime(2030, 7, 1, 22, 30, tzinfo=dt.UTC)
    text = render_to_string("reviews/mail/escalation.txt", {"campaign": campaign, "count": 1})
    assert "2030-07-02 00:30 CEST (2030-07-01 22:30 UTC)" in text
