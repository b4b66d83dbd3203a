"""API fixtures: token clients per persona and a small world in two agencies."""

import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from api import pagination
from api.services import api_token_create
from audit.actor import Actor
from findings.models import Finding, ReconciliationRun, UsageEvent
from reviews.models import ReviewCampaign, ReviewItem
from revocation.models import ManualTask
from tests.factories import (
    ContractFactory,
    CredentialFactory,
    SystemFactory,
    UserFactory,
    VendorFactory,
)
from tests.sessions import signed_in
from vendors.permissions import role_grant


@pytest.fixture(autouse=True)
def _fresh_throttle_buckets():
    # Rate-limit counters live in the (process-wide) cache, large lists' counts in the
    # pagination's own: each test starts with neither.
    cache.clear()
    pagination._counts.clear()


@pytest.fixture
def integration(agency):
    user = UserFactory(username="hr-sync")
    role_grant(user=user, agency=agency, role="integration")
    return user


def token_client(user, **kwargs) -> APIClient:
    _, key = api_token_create(
        actor=Actor.system("tests"), user=user, name=f"tests {user.username}", **kwargs
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    client.key = key
    return client


def verified_session(user, client=None):
    return signed_in(user, client=client)


@pytest.fixture
def verified_admin_client(admin_user):
    return verified_session(admin_user)


@pytest.fixture
def api_client_for():
    return token_client


def make_world(agency, tag: str) -> dict:
    """One of everything in ``agency``."""
    vendor = VendorFactory(agency=agency, name=f"{tag} Vendor")
    contract = ContractFactory(vendor=vendor, reference=f"{tag}-C1")
    system = SystemFactory(agency=agency, name=f"{tag}-db", config={"host": "127.0.0.1"})
    credential = CredentialFactory(
        vendor=vendor, system=system, contracts=[contract], external_id=f"{tag}_role"
    )
    other_credential = CredentialFactory(
        vendor=vendor, system=system, contracts=[contract], external_id=f"{tag}_role_2"
    )
    task = ManualTask.objects.create(
        credential=other_credential,
        system=system,
        reason=ManualTask.Reason.MANUAL_SYSTEM,
        opened_at=timezone.now() - dt.timedelta(hours=1),
    )
    # Written directly (no audit event): tests count the events their own calls write.
    finding = Finding.objects.create(
        kind="orphan",
        severity="high",
        system=system,
        account=f"{tag}_orphan",
        first_seen_at=timezone.now(),
        last_seen_at=timezone.now(),
    )
    usage_event = UsageEvent.objects.create(
        system=system,
        event_id=f"{tag}-evt-1",
        account=f"{tag}_role",
        occurred_at=timezone.now() - dt.timedelta(hours=2),
        credential=credential,
        vendor=vendor,
        received_at=timezone.now(),
    )
    run = ReconciliationRun.objects.create(
        system=system, trigger="tests", queued_at=timezone.now(), status="succeeded"
    )
    campaign = ReviewCampaign.objects.create(
        agency=agency, name=f"{tag} review", deadline=timezone.now() + dt.timedelta(days=7)
    )
    item = ReviewItem.objects.create(campaign=campaign, credential=credential)
    reviewer = UserFactory(username=f"{tag}-reviewer")
    role_grant(user=reviewer, agency=agency, role="auditor")
    return {
        "campaign": campaign,
        "item": item,
        "reviewer": reviewer,
        "run": run,
        "agency": agency,
        "vendor": vendor,
        "contract": contract,
        "system": system,
        "credential": credential,
        "task": task,
        "finding": finding,
        "usage_event": usage_event,
    }


@pytest.fixture
def world(agency):
    return make_world(agency, "own")


@pytest.fixture
def other_world(other_agency):
    return make_world(other_agency, "other")
