"""Every vendor/contract service writes its audit event; bad input writes nothing."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.models import AuditEvent
from tests.factories import ContractFactory, UserFactory, VendorFactory
from vendors import services
from vendors.models import Agency, Contract, Vendor
from vendors.permissions import MANAGE_CONTRACTS, REVOKE, has_agency_perm, roles_of

pytestmark = pytest.mark.django_db


def _assert_event(event, actor, action, before=None, after=None):
    assert event is not None, f"no {action} event"
    assert event.action == action
    assert event.actor_name == actor.name and event.actor_type == actor.type
    assert event.source_ip == actor.source_ip and event.request_id == actor.request_id
    if before is not None:
        assert {k: event.before[k] for k in before} == before
    if after is not None:
        assert {k: event.after[k] for k in after} == after


def test_agency_create(actor, last_event):
    agency = services.agency_create(
        actor=actor, name="Ministry X", slug="x", time_zone="Asia/Tokyo"
    )
    _assert_event(last_event(), actor, "agency.created", after={"time_zone": "Asia/Tokyo"})
    assert last_event().agency_id == agency.pk


def test_agency_rejects_unknown_time_zone(actor):
    with pytest.raises(ValidationError) as exc:
        services.agency_create(actor=actor, name="Ministry Y", slug="y", time_zone="Mars/Base")
    assert "time_zone" in exc.value.message_dict
    assert not Agency.objects.filter(slug="y").exists()


def test_grant_role_gives_agency_permissions(actor, agency, other_agency, last_event):
    user = UserFactory()
    services.agency_grant_role(actor=actor, agency=agency, user=user, role="procurement")
    _assert_event(last_event(), actor, "agency.role_granted", after={"role": "procurement"})
    assert has_agency_perm(user, MANAGE_CONTRACTS, ContractFactory(vendor__agency=agency))
    assert not has_agency_perm(user, REVOKE, agency)
    assert not has_agency_perm(user, MANAGE_CONTRACTS, other_agency)
    assert roles_of(user, agency) == ["procurement"]
    services.agency_revoke_role(actor=actor, agency=agency, user=user, role="procurement")
    assert last_event().action == "agency.role_revoked"
    assert not has_agency_perm(user, MANAGE_CONTRACTS, agency)


def test_vendor_create_update_status(actor, agency, last_event):
    vendor = services.vendor_create(actor=actor, agency=agency, name="Acme", risk_tier="high")
    _assert_event(
        last_event(), actor, "vendor.created", after={"name": "Acme", "risk_tier": "high"}
    )
    services.vendor_update(actor=actor, vendor=vendor, contact_email="am@acme.example")
    _assert_event(
        last_event(),
        actor,
        "vendor.updated",
        before={"contact_email": ""},
        after={"contact_email": "am@acme.example"},
    )
    assert set(last_event().after) == {"contact_email"}  # only what changed
    count = AuditEvent.objects.count()
    services.vendor_update(actor=actor, vendor=vendor, contact_email="am@acme.example")
    assert AuditEvent.objects.count() == count  # no-op writes nothing
    services.vendor_set_status(actor=actor, vendor=vendor, status="suspended", reason="incident")
    _assert_event(
        last_event(),
        actor,
        "vendor.status_changed",
        before={"status": "active"},
        after={"status": "suspended", "reason": "incident"},
    )


def test_vendor_bad_input_writes_nothing(actor, agency):
    VendorFactory(agency=agency, name="Taken")
    count = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as exc:
        services.vendor_create(actor=actor, agency=agency, name="Taken")
    assert "__all__" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.vendor_create(actor=actor, agency=agency, name="New", contact_email="not-an-email")
    assert "contact_email" in exc.value.message_dict
    with pytest.raises(ValidationError):
        services.vendor_create(actor=actor, agency=agency, name="New", risk_tier="extreme")
    with pytest.raises(ValidationError) as exc:
        services.vendor_create(actor=actor, agency=agency, name="New", status="offboarded")
    assert "status" in exc.value.message_dict
    assert AuditEvent.objects.count() == count
    assert Vendor.objects.filter(agency=agency).count() == 1


def test_contract_create_computes_end_of_day_in_agency_zone(actor, agency, last_event):
    vendor = VendorFactory(agency=agency)  # agency is Europe/Berlin
    contract = services.contract_create(
        actor=actor,
        vendor=vendor,
        reference="C-1",
        start_date=dt.date(2026, 1, 1),
        end_date=dt.date(2026, 6, 30),
        grace_days=2,
    )
    # End of 30 June + 2 days grace, Berlin summer time (UTC+2) = 2 July 22:00 UTC.
    assert contract.access_ends_at == dt.datetime(2026, 7, 2, 22, 0, tzinfo=dt.UTC)
    _assert_event(
        last_event(),
        actor,
        "contract.created",
        after={"reference": "C-1", "end_date": "2026-06-30", "grace_days": 2},
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"start_date": dt.date(2026, 5, 1), "end_date": dt.date(2026, 4, 30)}, "end_date"),
        ({"vendor": None}, "vendor"),
        ({"reference": ""}, "reference"),
        ({"procurement_contact_email": "nope"}, "procurement_contact_email"),
    ],
)
def test_contract_bad_input_writes_nothing(actor, agency, kwargs, field):
    vendor = VendorFactory(agency=agency)
    args = {
        "vendor": vendor,
        "reference": "C-9",
        "start_date": dt.date(2026, 1, 1),
        "end_date": dt.date(2026, 12, 31),
        **kwargs,
    }
    count = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as exc:
        services.contract_create(actor=actor, **args)
    assert field in exc.value.message_dict
    assert AuditEvent.objects.count() == count
    assert not Contract.objects.exists()


def test_contract_duplicate_reference_refused(actor, agency):
    contract = ContractFactory(vendor__agency=agency, reference="DUP")
    with pytest.raises(ValidationError):
        services.contract_create(
            actor=actor,
            vendor=contract.vendor,
            reference="DUP",
            start_date=dt.date(2026, 1, 1),
            end_date=dt.date(2026, 2, 1),
        )
    assert Contract.objects.count() == 1


def test_contract_update_and_end_date_change(actor, agency, last_event):
    contract = ContractFactory(vendor__agency=agency)
    services.contract_update(actor=actor, contract=contract, title="Support")
    _assert_event(last_event(), actor, "contract.updated", after={"title": "Support"})
    old_end = contract.end_date
    new_end = old_end + dt.timedelta(days=30)
    contract = services.contract_change_end_date(
        actor=actor, contract=contract, end_date=new_end, reason="extension"
    )
    _assert_event(
        last_event(),
        actor,
        "contract.end_date_changed",
        before={"end_date": old_end.isoformat()},
        after={"end_date": new_end.isoformat(), "reason": "extension"},
    )
    assert contract.access_ends_at == contract.compute_access_ends_at()
    with pytest.raises(ValidationError):
        services.contract_update(actor=actor, contract=contract, end_date=new_end)  # not here


def test_end_date_change_refused_once_access_ended(actor, agency):
    contract = ContractFactory(
        vendor__agency=agency,
        start_date=timezone.localdate() - dt.timedelta(days=100),
        end_date=timezone.localdate() - dt.timedelta(days=5),
    )
    with pytest.raises(ValidationError, match="already ended"):
        services.contract_change_end_date(
            actor=actor, contract=contract, end_date=timezone.localdate() + dt.timedelta(days=50)
        )
    contract.refresh_from_db()
    assert contract.end_date == timezone.localdate() - dt.timedelta(days=5)


def test_contract_terminate(actor, agency, last_event):
    contract = ContractFactory(vendor__agency=agency, grace_days=5)
    today = timezone.now().astimezone(agency.tz).date()
    contract = services.contract_terminate(actor=actor, contract=contract, reason="breach")
    assert contract.status == Contract.Status.TERMINATED
    assert contract.end_date == today and contract.grace_days == 0
    _assert_event(
        last_event(),
        actor,
        "contract.terminated",
        after={"status": "terminated", "termination_reason": "breach"},
    )
    with pytest.raises(ValidationError):
        services.contract_terminate(actor=actor, contract=contract, reason="again")


def test_contract_terminate_validation(actor, agency):
    contract = ContractFactory(vendor__agency=agency)
    with pytest.raises(ValidationError) as exc:
        services.contract_terminate(actor=actor, contract=contract, reason=" ")
    assert "reason" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.contract_terminate(
            actor=actor,
            contract=contract,
            reason="x",
            effective_date=contract.end_date + dt.timedelta(days=1),
        )
    assert "effective_date" in exc.value.message_dict
    contract.refresh_from_db()
    assert contract.status == Contract.Status.ACTIVE
