"""Exposure at a point in time, rebuilt from the trail: a history of registrations, an
extension, a revocation, a re-registration and later changes, queried at several T's."""

import datetime as dt

from django.utils import timezone

from access import services as access_services
from audit.actor import Actor
from audit.exposure import exposure_at, exposure_for_pack
from audit.models import AuditEvent
from tests.audit.exposure_history import db_now, history  # noqa: F401
from vendors import services as vendor_services


def _ids(report):
    return [row.credential["external_id"] for row in report.rows]


def test_before_anything_nothing_was_exposed(history):
    assert exposure_at(at=history["t0"]).rows == []


def test_at_t1_the_citizen_system_was_reachable_under_the_original_contract(history):
    report = exposure_at(at=history["t1"], min_classification="confidential")
    assert _ids(report) == ["acme_alice"]
    [row] = report.rows
    assert row.status_at == "active" and row.authorised_at
    assert row.system == {
        "id": history["crm"].pk,
        "name": "citizen-crm",
        "kind": "manual",
        "lifecycle": "active",
        "data_classification": "restricted",
        "estimated_records": 2_000_000,
    }
    assert row.vendor == {"id": history["vendor"].pk, "name": "Acme Data GmbH"}
    [contract] = row.contracts
    assert contract["reference"] == "C-1" and contract["authorising"]
    assert dt.datetime.fromisoformat(contract["access_ends_at"]) == history["original_end"]
    # What happened after T1: requested, then confirmed revoked by a person.
    after = row.after
    assert history["t1"] < after["revocation_requested_at"] < history["t2"]
    assert after["revocation_trigger"] == "manual_revoke"
    assert history["t2"] < after["revoked_at"] < history["t3"]
    assert after["revoked_verified"] is False and after["revoked_by"] == "officer"
    assert after["used_after"] == [] and not after["used_after_revocation"]
    # Every fact rests on events that exist, starting with the registration.
    registered = AuditEvent.objects.get(
        action="credential.registered", target_id=str(history["alice"].pk)
    )
    assert registered.seq in row.seqs
    assert set(report.evidence_seqs) <= set(AuditEvent.objects.values_list("seq", flat=True))


def test_citizen_records_and_system_filters(history):
    assert _ids(exposure_at(at=history["t1"], citizen_records=True)) == ["acme_alice"]
    assert _ids(exposure_at(at=history["t1"])) == ["acme_alice", "bot"]
    wiki = exposure_at(at=history["t1"], system_id=history["wiki"].pk)
    assert _ids(wiki) == ["bot"]
    [used] = wiki.rows[0].after["used_after"]
    assert dt.datetime.fromisoformat(used) == history["used"].replace(
        microsecond=history["used"].microsecond // 1000 * 1000
    )


def test_at_t2_a_pending_revocation_is_still_exposure_under_the_extension(history):
    [row] = exposure_at(at=history["t2"], system_id=history["crm"].pk).rows
    assert row.credential["external_id"] == "acme_alice" and row.status_at == "pending"
    [contract] = row.contracts
    assert dt.datetime.fromisoformat(contract["access_ends_at"]) == history["extended_end"]


def test_at_t3_revoked_is_not_exposed_and_t4_sees_the_re_registration(history):
    assert exposure_at(at=history["t3"], system_id=history["crm"].pk).rows == []
    at_t4 = exposure_at(at=history["t4"], system_id=history["crm"].pk)
    assert _ids(at_t4) == ["acme_alice_2"]
    assert at_t4.rows[0].contracts[0]["reference"] == "C-2"
    # At T4 the system is no longer classified confidential: nothing matches that.
    assert exposure_at(at=history["t4"], min_classification="confidential").rows == []


def test_only_the_users_agencies(history, auditor, outsider):
    assert _ids(exposure_at(at=history["t1"], user=auditor)) == ["acme_alice", "bot"]
    assert exposure_at(at=history["t1"], user=outsider).rows == []


def test_access_past_the_contract_end_is_flagged(history, officer):
    actor = Actor.for_user(officer)
    today = timezone.localdate()
    ended = vendor_services.contract_create(
        actor=actor,
        vendor=history["vendor"],
        reference="C-OLD",
        start_date=today - dt.timedelta(days=400),
        end_date=today - dt.timedelta(days=30),
    )
    access_services.credential_register(
        actor=actor,
        vendor=history["vendor"],
        system=history["wiki"],
        contracts=[ended],
        kind="api_key",
        external_id="legacy_key",
    )
    report = exposure_at(at=db_now(), system_id=history["wiki"].pk)
    rows = {row.credential["external_id"]: row for row in report.rows}
    assert rows["bot"].authorised_at
    assert not rows["legacy_key"].authorised_at
    assert report.as_dict()["unauthorised_count"] == 1


def test_pack_form_is_json_safe(history):
    import json

    pack = exposure_for_pack(vendor_id=history["vendor"].pk, at=history["t1"])
    assert json.loads(json.dumps(pack)) == pack
    assert pack["count"] == 2 and pack["evidence_seqs"]
    assert (
        exposure_for_pack(vendor_id=history["vendor"].pk, at=history["t1"], agency_ids=[])["count"]
        == 0
    )
