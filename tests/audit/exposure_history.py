"""A history for the exposure tests (audit, API, dashboard): registrations, an extension,
a revocation, a re-registration and later changes, with the moments between the steps."""

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from access import services as access_services
from access.models import Credential, System
from audit.actor import Actor
from revocation import services as revocation_services
from revocation.models import ManualTask
from vendors import services as vendor_services


def db_now():
    # The clock the trail's appends read (clock_timestamp, not the transaction's now()):
    # the whole test runs in one transaction.
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]


@pytest.fixture
def history(db, agency, officer):
    """Build the history; return the moments between its steps and the objects."""
    actor = Actor.for_user(officer)
    today = timezone.localdate()
    h = {"t0": db_now()}
    crm = access_services.system_create(
        actor=actor,
        agency=agency,
        name="citizen-crm",
        kind="manual",
        data_classification="restricted",
        estimated_records=2_000_000,
    )
    wiki = access_services.system_create(
        actor=actor, agency=agency, name="wiki", kind="manual", data_classification="public"
    )
    vendor = vendor_services.vendor_create(actor=actor, agency=agency, name="Acme Data GmbH")
    c1 = vendor_services.contract_create(
        actor=actor,
        vendor=vendor,
        reference="C-1",
        start_date=today - dt.timedelta(days=100),
        end_date=today + dt.timedelta(days=5),
    )
    alice = access_services.credential_register(
        actor=actor,
        vendor=vendor,
        system=crm,
        contracts=[c1],
        kind="database_role",
        external_id="acme_alice",
        holder="Alice",
    )
    bot = access_services.credential_register(
        actor=actor, vendor=vendor, system=wiki, contracts=[c1], kind="api_key", external_id="bot"
    )
    h["t1"] = db_now()
    original_end = c1.access_ends_at
    vendor_services.contract_change_end_date(
        actor=actor, contract=c1, end_date=today + dt.timedelta(days=60), reason="extended"
    )
    revocation_services.credential_revoke(actor=actor, credential=alice, reason="left the team")
    h["t2"] = db_now()
    revocation_services.revocation_batch_run(system_id=crm.pk, worker="test")
    task = ManualTask.objects.get(credential=alice)
    revocation_services.manual_task_complete(actor=actor, task=task, note="dropped the role")
    h["t3"] = db_now()
    c2 = vendor_services.contract_create(
        actor=actor,
        vendor=vendor,
        reference="C-2",
        start_date=today,
        end_date=today + dt.timedelta(days=365),
    )
    alice2 = access_services.credential_register(
        actor=actor,
        vendor=vendor,
        system=crm,
        contracts=[c2],
        kind="database_role",
        external_id="acme_alice_2",
    )
    used = db_now()
    access_services.credential_update(actor=actor, credential=bot, last_used_at=used)
    # Later changes to today's rows: the system is reclassified and emptied...
    access_services.system_update(
        actor=actor, system=crm, data_classification="internal", estimated_records=0
    )
    h["t4"] = db_now()
    # ... and someone edits the tables behind the services' back. None of it may
    # change what the trail says was true at T.
    Credential.objects.filter(pk=alice.pk).update(status="active", revoked_at=None)
    System.objects.filter(pk=wiki.pk).update(data_classification="restricted")
    h.update(
        crm=crm,
        wiki=wiki,
        vendor=vendor,
        c1=c1,
        c2=c2,
        alice=alice,
        alice2=alice2,
        bot=bot,
        original_end=original_end,
        extended_end=vendor_services.Contract.objects.get(pk=c1.pk).access_ends_at,
        used=used,
    )
    return h
