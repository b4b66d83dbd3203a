"""System and credential services: audit events, secrets never exposed, bad input refused."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from access import services
from access.models import Credential, System
from audit.models import AuditEvent
from tests.factories import ContractFactory, CredentialFactory, SystemFactory, VendorFactory

pytestmark = pytest.mark.django_db


def test_system_create_encrypts_secret_and_never_audits_it(actor, agency, last_event):
    system = services.system_create(
        actor=actor,
        agency=agency,
        name="Citizen DB",
        kind="postgres",
        config={"host": "db.internal", "port": 5432},
        secret="s3cret-pa55word",
        lifecycle="legacy",
        data_classification="restricted",
        estimated_records=1_000_000,
    )
    event = last_event()
    assert event.action == "system.created" and event.actor_name == actor.name
    assert event.after["has_secret"] is True and event.after["lifecycle"] == "legacy"
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret_encrypted FROM access_system WHERE id = %s", [system.pk])
        stored = cursor.fetchone()[0]
    assert "s3cret" not in stored
    assert system.get_secret() == "s3cret-pa55word"
    dumped = AuditEvent.objects.filter(target_id=str(system.pk)).values_list("before", "after")
    assert "s3cret" not in repr(list(dumped))


def test_system_update_secret_and_fields(actor, agency, last_event):
    system = SystemFactory(agency=agency)
    services.system_update(actor=actor, system=system, secret="new-one", lifecycle="legacy")
    event = last_event()
    assert event.action == "system.updated"
    assert event.before == {"lifecycle": "active", "has_secret": False}
    assert event.after == {"lifecycle": "legacy", "has_secret": True, "secret": "replaced"}
    system.refresh_from_db()
    assert system.get_secret() == "new-one"
    services.system_update(actor=actor, system=system, secret="")
    assert last_event().after == {"has_secret": False, "secret": "cleared"}


def test_system_bad_input(actor, agency):
    SystemFactory(agency=agency, name="dup")
    for kwargs, field in [
        ({"name": "dup", "kind": "manual"}, "__all__"),
        ({"name": "x", "kind": "mainframe"}, "kind"),
        ({"name": "x", "kind": "manual", "estimated_records": -1}, "estimated_records"),
        ({"name": "x", "kind": "manual", "config": ["not", "an", "object"]}, "config"),
    ]:
        with pytest.raises(ValidationError) as exc:
            services.system_create(actor=actor, agency=agency, **kwargs)
        assert field in exc.value.message_dict
    assert System.objects.count() == 1


def test_credential_register(actor, agency, last_event):
    contract = ContractFactory(vendor__agency=agency)
    system = SystemFactory(agency=agency)
    credential = services.credential_register(
        actor=actor,
        vendor=contract.vendor,
        system=system,
        contracts=[contract],
        kind="database_role",
        external_id="acme_ro",
        holder="J. Doe",
    )
    event = last_event()
    assert event.action == "credential.registered" and event.actor_name == actor.name
    assert event.after["external_id"] == "acme_ro"
    assert event.after["contracts"] == [contract.pk]
    assert event.agency_id == agency.pk
    assert list(credential.contracts.all()) == [contract]


def test_credential_bad_input_writes_nothing(actor, agency, other_agency):
    existing = CredentialFactory(vendor__agency=agency, external_id="taken")
    vendor, system = existing.vendor, existing.system
    contract = existing.contracts.get()
    foreign_system = SystemFactory(agency=other_agency)
    other_vendor_contract = ContractFactory(vendor=VendorFactory(agency=agency))
    cases = [
        ({"external_id": "taken"}, "__all__"),
        ({"system": foreign_system}, "system"),
        ({"contracts": []}, "contracts"),
        ({"contracts": [other_vendor_contract]}, "contracts"),
        ({"vendor": None}, "vendor"),
        ({"kind": "telepathy"}, "kind"),
    ]
    count = AuditEvent.objects.count()
    for override, field in cases:
        args = {
            "vendor": vendor,
            "system": system,
            "contracts": [contract],
            "kind": "database_role",
            "external_id": "new_role",
            **override,
        }
        with pytest.raises(ValidationError) as exc:
            services.credential_register(actor=actor, **args)
        assert field in exc.value.message_dict, (override, exc.value.message_dict)
    assert Credential.objects.count() == 1
    assert AuditEvent.objects.count() == count


def test_credential_refused_on_decommissioned_system(actor, agency):
    contract = ContractFactory(vendor__agency=agency)
    system = SystemFactory(agency=agency, lifecycle="decommissioned")
    with pytest.raises(ValidationError) as exc:
        services.credential_register(
            actor=actor,
            vendor=contract.vendor,
            system=system,
            contracts=[contract],
            kind="other",
            external_id="x",
        )
    assert "decommissioned" in str(exc.value)


def test_credential_update(actor, agency, last_event):
    credential = CredentialFactory(vendor__agency=agency)
    services.credential_update(actor=actor, credential=credential, privileges="read")
    assert last_event().action == "credential.updated"
    assert last_event().after == {"privileges": "read"}


def test_credential_update_contracts_and_no_op(actor, agency, last_event):
    credential = CredentialFactory(vendor__agency=agency)
    first = credential.contracts.get()
    second = ContractFactory(vendor=credential.vendor)
    services.credential_update(actor=actor, credential=credential, contracts=[first, second])
    event = last_event()
    assert event.action == "credential.updated"
    assert event.before == {"contracts": [first.pk]}
    assert event.after == {"contracts": sorted([first.pk, second.pk])}
    count = AuditEvent.objects.count()
    services.credential_update(actor=actor, credential=credential, contracts=[second, first])
    services.credential_update(actor=actor, credential=credential, privileges="")
    assert AuditEvent.objects.count() == count
