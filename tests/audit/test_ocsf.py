"""OCSF events validated against the OCSF schema itself.

The JSON Schemas come from the ``ocsf-json-schema`` package, which ships the
official OCSF schema exports (1.0 to 1.8) and turns a class into a JSON Schema
(draft 2020-12, ``additionalProperties: false``, OCSF's at-least-one rules);
``jsonschema-rs`` validates against it. Nothing here uses Sundown's own idea of OCSF.
"""

import datetime as dt
import json

import jsonschema_rs
import pytest
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

from access import services as access_services
from audit.actor import Actor
from audit.hashing import COLUMNS
from audit.models import AuditEvent
from audit.ocsf import _MAP, OCSF_VERSION, ocsf_event, ocsf_line
from revocation import services as revocation_services
from tests.factories import ContractFactory, SystemFactory, VendorFactory
from vendors import services as vendor_services


@pytest.fixture(scope="session")
def ocsf_validators():
    schema = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=OCSF_VERSION))
    cache = {}

    def validator(class_uid):
        if class_uid not in cache:
            name = schema.lookup_class_name_from_uid(class_uid)
            cache[class_uid] = jsonschema_rs.validator_for(schema.get_class_schema(name))
        return cache[class_uid]

    return validator


def assert_valid(ocsf_validators, event):
    errors = [
        f"{'/'.join(map(str, e.instance_path))}: {e.message}"
        for e in ocsf_validators(event["class_uid"]).iter_errors(event)
    ]
    assert not errors, (event["metadata"]["event_code"], errors)
    assert event["type_uid"] == event["class_uid"] * 100 + event["activity_id"]


def _record(action, **overrides):
    record = {
        "seq": 7,
        "occurred_at": dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC),
        "actor_type": "user",
        "actor_id": "3",
        "actor_name": "officer",
        "source_ip": "192.0.2.10",
        "action": action,
        "target_type": "access.credential",
        "target_id": "41",
        "target_repr": "vendor_role_1 (Database role)",
        "agency_id": 1,
        "before": {"status": "active"},
        "after": {"status": "revoked", "verified": True},
        "request_id": "req-1",
        "hash_version": 1,
        "prev_hash": "0" * 64,
        "hash": "a" * 64,
    }
    record.update(overrides)
    return record


@pytest.mark.parametrize("action", sorted(_MAP) + ["contract.end_date_changed", "x.frobbed"])
def test_every_mapped_action_is_valid_ocsf(ocsf_validators, action):
    event = ocsf_event(_record(action))
    assert_valid(ocsf_validators, event)
    assert event["metadata"]["version"] == OCSF_VERSION
    assert event["metadata"]["sequence"] == 7
    assert event["unmapped"]["sundown"]["after"] == {"status": "revoked", "verified": True}


def test_classes_per_kind_of_event(ocsf_validators):
    assert ocsf_event(_record("credential.revoked"))["class_uid"] == 3001
    assert ocsf_event(_record("auth.login", target_type="auth.user"))["class_uid"] == 3002
    assert ocsf_event(_record("credential.registered"))["class_uid"] == 3005
    assert ocsf_event(_record("vendor.created"))["class_uid"] == 3004
    failed = ocsf_event(_record("auth.login_failed", target_id="", actor_type="anonymous"))
    assert (failed["activity_name"], failed["status"]) == ("Logon", "Failure")
    assert_valid(ocsf_validators, failed)


@pytest.mark.parametrize(
    "action,after,activity,status",
    [
        ("finding.opened", {"status": "open", "severity": "critical"}, 1, "New"),
        ("finding.status_changed", {"status": "acknowledged"}, 2, "In Progress"),
        ("finding.status_changed", {"status": "resolved"}, 3, "Resolved"),
    ],
)
def test_findings_become_detection_findings(ocsf_validators, action, after, activity, status):
    # Findings arrive with the reconciliation work (issue 11); this is the shape
    # its events are expected to have.
    record = _record(
        action,
        target_type="access.finding",
        target_id="12",
        target_repr="orphan account vendor_ghost on crm-db",
        before=None,
        after={
            "kind": "used_after_contract_end",
            "severity": "critical",
            "system": 5,
            "account": "vendor_ghost",
            "vendor": 2,
            "first_seen": "2026-03-01T11:00:00Z",
            "last_seen": "2026-03-01T11:55:00+00:00",
            **after,
        },
    )
    event = ocsf_event(record)
    assert_valid(ocsf_validators, event)
    assert event["class_uid"] == 2004
    assert (event["activity_id"], event["status"]) == (activity, status)
    assert event["finding_info"]["uid"] == "12"
    assert event["finding_info"]["types"] == ["used_after_contract_end"]
    assert event["severity"] == "Critical" and event["is_alert"] is True


def test_real_trail_events_are_valid_ocsf(db, client, agency, officer, ocsf_validators):
    actor = Actor.for_user(officer, source_ip="2001:db8::1", request_id="r-9")
    vendor = VendorFactory(agency=agency)
    contract = ContractFactory(vendor=vendor)
    system = SystemFactory(agency=agency)
    credential = access_services.credential_register(
        actor=actor,
        vendor=vendor,
        system=system,
        contracts=[contract],
        kind="database_role",
        external_id="vendor_ünïcode",
    )
    vendor_services.contract_change_end_date(
        actor=actor,
        contract=contract,
        end_date=contract.end_date + dt.timedelta(days=30),
        reason="renewed",
    )
    revocation_services.credential_revoke(actor=actor, credential=credential, reason="left")
    vendor_services.agency_grant_role(actor=actor, agency=agency, user=officer, role="auditor")
    client.force_login(officer)
    rows = AuditEvent.objects.order_by("seq").values_list(*COLUMNS)
    classes = set()
    for values in rows:
        record = dict(zip(COLUMNS, values, strict=True))
        line = ocsf_line(record)
        assert "\n" not in line and line.isascii()
        event = json.loads(line)
        assert_valid(ocsf_validators, event)
        assert event["metadata"]["uid"] == record["hash"]
        classes.add(event["class_uid"])
    assert {3001, 3002, 3005, 3004} <= classes


def test_the_validator_does_refuse_what_is_not_ocsf(ocsf_validators):
    event = ocsf_event(_record("credential.revoked"))
    event["colour"] = "blue"  # not an OCSF attribute
    del event["user"]  # required by Account Change
    messages = [e.message for e in ocsf_validators(3001).iter_errors(event)]
    assert any("user" in m for m in messages) and any("colour" in m for m in messages)
