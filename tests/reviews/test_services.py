"""Review campaigns: scope, reviewers, decisions, deadline, reminders, schedules, audit."""

import datetime as dt

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.actor import Actor
from audit.models import AuditEvent
from reviews import selectors
from reviews.automation import reviews_due
from reviews.models import ReviewCampaign, ReviewItem, ReviewSchedule
from reviews.services import (
    review_campaign_close,
    review_campaign_open,
    review_items_decide,
    review_items_reassign,
)
from tests.factories import CredentialFactory, SystemFactory, UserFactory, VendorFactory
from vendors.permissions import role_grant

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("test")


@pytest.fixture
def sponsor(agency):
    user = UserFactory(username="sponsor")
    role_grant(user=user, agency=agency, role="auditor")
    return user


@pytest.fixture
def estate(agency, sponsor):
    """Two vendors (one sponsored), a citizen-data system and a plain one."""
    sponsored = VendorFactory(agency=agency, sponsor=sponsor)
    orphaned = VendorFactory(agency=agency)
    records = SystemFactory(agency=agency, estimated_records=100_000)
    plain = SystemFactory(agency=agency)
    creds = {
        "a": CredentialFactory(vendor=sponsored, system=records, privileges="SUPERUSER"),
        "b": CredentialFactory(vendor=sponsored, system=plain),
        "c": CredentialFactory(vendor=orphaned, system=plain),
        "gone": CredentialFactory(vendor=sponsored, system=plain, status="pending"),
    }
    return {
        "sponsored": sponsored,
        "orphaned": orphaned,
        "records": records,
        "plain": plain,
        **creds,
    }


def open_campaign(agency, **kwargs):
    kwargs.setdefault("name", "Q4 review")
    kwargs.setdefault("deadline", timezone.now() + dt.timedelta(days=14))
    return review_campaign_open(actor=ACTOR, agency=agency, **kwargs)


def credential_ids(campaign):
    return set(campaign.items.values_list("credential_id", flat=True))


def test_scopes_cover_active_credentials_only(agency, estate):
    e = estate
    assert credential_ids(open_campaign(agency)) == {e["a"].pk, e["b"].pk, e["c"].pk}
    vendor = open_campaign(agency, scope="vendor", vendor=e["sponsored"])
    assert credential_ids(vendor) == {e["a"].pk, e["b"].pk}
    system = open_campaign(agency, scope="system", system=e["plain"])
    assert credential_ids(system) == {e["b"].pk, e["c"].pk}
    assert credential_ids(open_campaign(agency, scope="privileged")) == {e["a"].pk}
    assert credential_ids(open_campaign(agency, scope="citizen_data")) == {e["a"].pk}
    opened = AuditEvent.objects.filter(action="review.campaign_opened")
    assert opened.count() == 5 and opened.first().after["items"] == 3


def test_the_sponsor_reviews_by_default_and_items_can_be_reassigned(
    agency, estate, sponsor, officer, outsider
):
    campaign = open_campaign(agency)
    by_credential = dict(campaign.items.values_list("credential_id", "reviewer_id"))
    assert by_credential[estate["a"].pk] == sponsor.pk
    assert by_credential[estate["c"].pk] is None  # no sponsor: waits for reassignment
    with pytest.raises(ValidationError, match="see this agency"):
        review_items_reassign(actor=ACTOR, campaign=campaign, reviewer=outsider)
    moved = review_items_reassign(actor=ACTOR, campaign=campaign, reviewer=officer)
    assert moved == 1
    assert ReviewItem.objects.get(credential=estate["c"]).reviewer == officer
    event = AuditEvent.objects.get(action="review.items_reassigned")
    assert event.after["reviewer"] == officer.pk and len(event.after["items"]) == 1


def test_keep_needs_a_reason_revoke_goes_through_the_engine(agency, estate, sponsor):
    campaign = open_campaign(agency)
    a, b = (ReviewItem.objects.get(campaign=campaign, credential=estate[k]) for k in "ab")
    me = Actor.for_user(sponsor)
    with pytest.raises(ValidationError, match="still needed"):
        review_items_decide(actor=me, items=[a.pk], decision="keep", reason=" ")
    with pytest.raises(ValidationError, match="keep or revoke"):
        review_items_decide(actor=me, items=[a.pk], decision="maybe")
    assert review_items_decide(actor=me, items=[a.pk], decision="keep", reason="Runs payroll")
    assert review_items_decide(actor=me, items=[b.pk], decision="revoke") == [b.pk]
    # Already answered: nothing happens again.
    assert review_items_decide(actor=me, items=[a.pk, b.pk], decision="revoke") == []
    estate["a"].refresh_from_db()
    estate["b"].refresh_from_db()
    assert (estate["a"].status, estate["b"].status) == ("active", "pending")
    request = AuditEvent.objects.get(
        action="credential.revocation_requested", target_id=str(estate["b"].pk)
    )
    assert request.after["trigger"] == "review" and request.actor_name == "sponsor"
    assert request.after["policy"] == {
        "name": "review",
        "campaign": campaign.pk,
        "decision": "revoke",
        "reviewer": "sponsor",
    }
    decided = AuditEvent.objects.filter(action="review.item_decided").order_by("seq")
    assert [e.after["decision"] for e in decided] == ["keep", "revoke"]
    assert decided[0].after["reason"] == "Runs payroll"


def test_the_deadline_revokes_unanswered_items(agency, estate, sponsor):
    campaign = open_campaign(agency)
    a = ReviewItem.objects.get(campaign=campaign, credential=estate["a"])
    review_items_decide(actor=Actor.for_user(sponsor), items=[a.pk], decision="keep", reason="ok")
    ReviewCampaign.objects.filter(pk=campaign.pk).update(
        deadline=timezone.now() - dt.timedelta(seconds=1)
    )
    assert reviews_due(actor=ACTOR).closed == 1
    campaign.refresh_from_db()
    assert campaign.status == "closed" and campaign.closed_at
    decisions = dict(campaign.items.values_list("credential_id", "decision"))
    assert decisions == {estate["a"].pk: "keep", estate["b"].pk: "lapsed", estate["c"].pk: "lapsed"}
    for key, status in (("a", "active"), ("b", "pending"), ("c", "pending")):
        estate[key].refresh_from_db()
        assert estate[key].status == status
    request = AuditEvent.objects.get(
        action="credential.revocation_requested", target_id=str(estate["c"].pk)
    )
    assert request.after["policy"] == {
        "name": "review",
        "campaign": campaign.pk,
        "decision": "no_answer",
    }
    assert AuditEvent.objects.filter(action="review.item_lapsed").count() == 2
    closed = AuditEvent.objects.get(action="review.campaign_closed")
    assert closed.after["unanswered"] == 2 and closed.after["revocations_requested"] == 2
    # A closed campaign takes no more answers.
    b = ReviewItem.objects.get(campaign=campaign, credential=estate["b"])
    assert review_items_decide(actor=ACTOR, items=[b.pk], decision="keep", reason="x") == []


def test_an_escalating_campaign_mails_security_staff_and_revokes_nothing(
    agency, estate, officer, settings
):
    settings.SUNDOWN_SECURITY_ALERT_EMAILS = ["soc@agency.example"]
    from django.test import TestCase

    campaign = open_campaign(agency, on_no_answer="escalate")
    with TestCase.captureOnCommitCallbacks(execute=True):
        review_campaign_close(actor=ACTOR, campaign=campaign)
    assert set(campaign.items.values_list("decision", flat=True)) == {"escalated"}
    for key in "abc":
        estate[key].refresh_from_db()
        assert estate[key].status == "active"
    (message,) = mail.outbox
    assert "soc@agency.example" in message.to and officer.email in message.to
    assert "3 unanswered" in message.subject and estate["c"].external_id in message.body
    # An officer decides the escalated items after the close.
    escalated = list(campaign.items.values_list("pk", flat=True))
    assert list(selectors.reviewer_queue(user=officer, escalated=True)) != []
    done = review_items_decide(
        actor=Actor.for_user(officer), items=escalated[:1], decision="revoke"
    )
    assert done == escalated[:1]
    event = AuditEvent.objects.filter(action="review.item_decided").get()
    assert event.before == {"decision": "escalated"}


def test_reminders_go_once_per_mark_to_each_reviewer_with_pending_items(
    agency, estate, sponsor, settings
):
    from django.test import TestCase

    settings.SUNDOWN_REVIEW_REMINDER_DAYS = [7, 1]
    campaign = open_campaign(agency, deadline=timezone.now() + dt.timedelta(days=5))
    with TestCase.captureOnCommitCallbacks(execute=True):
        reviews_due(actor=ACTOR)
    (message,) = mail.outbox  # the unassigned item has nobody to remind
    assert message.to == [sponsor.email] and "2 access review item(s)" in message.subject
    assert "/reviews/" in message.body
    with TestCase.captureOnCommitCallbacks(execute=True):
        reviews_due(actor=ACTOR)
    assert len(mail.outbox) == 1  # the 7-day mark went once
    ReviewCampaign.objects.filter(pk=campaign.pk).update(
        deadline=timezone.now() + dt.timedelta(hours=20)
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        reviews_due(actor=ACTOR)
    assert len(mail.outbox) == 2
    assert AuditEvent.objects.filter(action="review.reminders_sent").count() == 2


def test_a_schedule_opens_campaigns_on_its_calendar(agency, estate):
    planned = timezone.now() - dt.timedelta(hours=1)
    schedule = ReviewSchedule.objects.create(
        agency=agency,
        name="Quarterly privileged",
        scope="privileged",
        interval_days=90,
        duration_days=10,
        next_run_at=planned,
    )
    assert reviews_due(actor=ACTOR).opened == 1
    campaign = ReviewCampaign.objects.get(schedule=schedule)
    assert campaign.scope == "privileged" and credential_ids(campaign) == {estate["a"].pk}
    schedule.refresh_from_db()
    assert schedule.next_run_at == planned + dt.timedelta(days=90)
    assert reviews_due(actor=ACTOR).opened == 0


def test_bad_campaigns_are_refused_with_field_messages(agency, other_agency, estate):
    foreign = VendorFactory(agency=other_agency)
    with pytest.raises(ValidationError) as exc:
        open_campaign(agency, name="", deadline=timezone.now() - dt.timedelta(days=1))
    assert set(exc.value.message_dict) == {"name", "deadline"}
    with pytest.raises(ValidationError, match="names its vendor"):
        open_campaign(agency, scope="vendor")
    with pytest.raises(ValidationError, match="agency's own"):
        open_campaign(agency, scope="vendor", vendor=foreign)
    with pytest.raises(ValidationError, match="agency's own"):
        open_campaign(agency, scope="all", system=estate["plain"])


def test_progress_per_reviewer(agency, estate, sponsor):
    campaign = open_campaign(agency)
    a = ReviewItem.objects.get(campaign=campaign, credential=estate["a"])
    review_items_decide(actor=Actor.for_user(sponsor), items=[a.pk], decision="keep", reason="ok")
    progress = {row["reviewer__username"]: row for row in selectors.campaign_progress(campaign)}
    assert progress["sponsor"]["total"] == 2 and progress["sponsor"]["keep"] == 1
    assert progress["sponsor"]["pending"] == 1 and progress[None]["pending"] == 1
    row = selectors.campaign_get(user=sponsor, pk=campaign.pk)
    assert (row.n_items, row.n_keep, row.n_pending) == (3, 1, 2)


def test_the_evidence_pack_carries_the_reviews_of_its_credentials(agency, estate, sponsor):
    import io
    import json
    import zipfile

    from audit.evidence import evidence_pack_build, scope_for_vendor

    campaign = open_campaign(agency)
    a = ReviewItem.objects.get(campaign=campaign, credential=estate["a"])
    review_items_decide(actor=Actor.for_user(sponsor), items=[a.pk], decision="keep", reason="ok")
    _, data = evidence_pack_build(actor=ACTOR, scope=scope_for_vendor(estate["sponsored"]))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        reviews = json.loads(archive.read("reviews.json"))
        manifest = json.loads(archive.read("manifest.json"))
    assert "reviews.json" in manifest["files"]
    by_credential = {r["credential"]: r for r in reviews}
    assert set(by_credential) == {estate["a"].pk, estate["b"].pk}  # not the other vendor's
    kept = by_credential[estate["a"].pk]
    assert kept["decision"] == "keep" and kept["reason"] == "ok" and kept["reviewer"] == "sponsor"
    assert kept["campaign"]["name"] == "Q4 review"
