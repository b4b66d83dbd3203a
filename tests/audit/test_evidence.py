"""Evidence packs: built by the command, API and dashboard; checked by tools/sundown-verify
in a subprocess that cannot import the project, and by tests/audit/independent.py."""

import base64
import hashlib
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import transaction

from access.services import credential_register
from audit.actor import Actor
from audit.models import AuditEvent
from audit.services import audit_record_many
from audit.signing import signing_key
from revocation.services.events import credential_revoked_event
from revocation.services.manual import credential_confirm_revoked
from revocation.services.requests import credential_revoke
from tests.audit import independent
from tests.factories import ContractFactory, SystemFactory, VendorFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
VERIFY = ROOT / "tools" / "sundown-verify"
# Runs the verifier with the project's packages (and Django) made unimportable.
BLOCKED_RUN = """
import importlib.abc, runpy, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"django", "audit", "vendors", "access", "revocation", "api",
                                  "dashboard", "config", "tests", "rest_framework"}:
            raise ImportError("the verifier must not import " + name)
sys.meta_path.insert(0, Block())
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _verify(*args, cwd):
    return subprocess.run(
        [sys.executable, "-I", "-c", BLOCKED_RUN, str(VERIFY), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def vendor_world(actor):
    from vendors.models import Agency

    agency = Agency.objects.get(slug="health")
    vendor = VendorFactory(agency=agency, name="Legacy Data Processing GmbH")
    contract = ContractFactory(vendor=vendor)
    system = SystemFactory(agency=agency, name="citizen-records")
    engine_revoked = credential_register(
        actor=actor,
        vendor=vendor,
        system=system,
        contracts=[contract],
        kind="database_role",
        external_id="ldp_etl",
    )
    by_person = credential_register(
        actor=actor,
        vendor=vendor,
        system=system,
        contracts=[contract],
        kind="ssh_key",
        external_id="SHA256:abc",
    )
    credential_revoke(actor=actor, credential=engine_revoked, reason="contract ended")
    with transaction.atomic():  # what the engine writes once the target shows it gone
        audit_record_many(
            actor=Actor.system("worker"),
            events=[
                credential_revoked_event(
                    target=("access.credential", engine_revoked.pk, "ldp_etl"),
                    agency_id=agency.pk,
                    before_status="pending",
                    how="connector",
                )
            ],
        )
    credential_confirm_revoked(actor=actor, credential=by_person, reason="key removed by hand")
    other = VendorFactory(agency=agency)  # its events must stay out of the pack
    credential_register(
        actor=actor,
        vendor=other,
        system=system,
        contracts=[ContractFactory(vendor=other)],
        kind="api_key",
        external_id="other",
    )
    return vendor, contract, engine_revoked, by_person


def _members(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _write(path, members, *, refresh_manifest=True):
    """Write a pack; like an attacker, keep the (unsigned) manifest's hashes in step."""
    members = dict(members)
    if refresh_manifest:
        manifest = json.loads(members["manifest.json"])
        for name in manifest["files"]:
            manifest["files"][name] = hashlib.sha256(members[name]).hexdigest()
        members["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_pack_verifies_offline_and_one_changed_byte_anywhere_fails(vendor_world, tmp_path):
    vendor, _, engine_revoked, by_person = vendor_world
    pack = tmp_path / "pack.zip"
    call_command("audit_evidence_pack", "--vendor", str(vendor.pk), "--out", str(pack))
    key = signing_key().verifier()
    result = _verify(pack, "--key", key, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("OK ")

    members = _members(pack)
    manifest = json.loads(members["manifest.json"])
    entries = {c["id"]: c for c in manifest["credentials"]}
    assert entries[engine_revoked.pk]["revoked"]["verified"] is True
    assert entries[engine_revoked.pk]["revocation_requested"]["trigger"] == "manual_revoke"
    assert entries[engine_revoked.pk]["within_policy"] is True
    assert entries[by_person.pk]["revoked"]["how"] == "confirmation"
    assert b"Revocation certificate" in members["certificate.html"]
    assert b"<script" not in members["certificate.html"] and b"http" not in members[
        "certificate.html"
    ].replace(b"https://", b"").replace(b"http://", b"")

    # Independent check, from the RFC 6962 and C2SP texts.
    origin, size, root = independent.open_checkpoint(members["checkpoint.txt"].decode(), key)
    events = [json.loads(line) for line in members["events.jsonl"].decode().splitlines()]
    seqs = {e["seq"] for e in events}
    expected = set(
        AuditEvent.objects.filter(
            target_type="access.credential", target_id__in=[engine_revoked.pk, by_person.pk]
        ).values_list("seq", flat=True)
    )
    assert expected <= seqs and manifest["event_count"] == len(events)
    for event in events:
        leaf = hashlib.sha256(b"\0" + event["canonical"].encode()).digest()
        path = [base64.b64decode(p) for p in event["proof"]]
        assert independent.root_from_audit_path(event["seq"] - 1, size, leaf, path) == root

    # One byte changed in any event, proof or the checkpoint: every such pack fails.
    altered = []
    for member in ("events.jsonl", "checkpoint.txt"):
        data = members[member]
        step = 1 if member == "checkpoint.txt" else 3
        for position in range(0, len(data), step):
            changed = bytearray(data)
            changed[position] ^= 0x01
            target = tmp_path / f"{member}-{position}.zip"
            _write(target, {**members, member: bytes(changed)})
            altered.append(target)
    result = _verify(*altered, "--key", key, cwd=tmp_path)
    lines = result.stdout.splitlines()
    assert result.returncode == 1 and len(lines) == len(altered)
    passed = [line for line in lines if not line.startswith("FAIL ")]
    assert not passed, passed[:5]

    # A pack signed by someone else's key, and a key that is not the trusted one.
    result = _verify(pack, "--key", signing_key().verifier().replace("+", "+0", 1), cwd=tmp_path)
    assert result.returncode == 1


def test_contract_pack_from_the_api_and_the_dashboard(
    vendor_world, auditor, tmp_path, tasks_run_on_commit
):
    from django.test import Client

    _, contract, _, _ = vendor_world
    api = Client()
    api.force_login(auditor)
    response = api.get(f"/api/v1/contract-evidence-packs/{contract.pk}/")
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/zip"
    pack = tmp_path / "api.zip"
    pack.write_bytes(response.content)
    assert _verify(pack, cwd=tmp_path).returncode == 0
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(response.content)).read("manifest.json"))
    assert [c["id"] for c in manifest["contracts"]] == [contract.pk]

    # The dashboard builds it as a job (jobs app) and offers the file on the job's page.
    started = tasks_run_on_commit(lambda: api.post(f"/vendors/{contract.vendor_id}/evidence-pack/"))
    assert started.status_code == 302 and started.url.startswith("/jobs/")
    response = api.get(f"{started.url}download/")
    assert response.status_code == 200, response.status_code
    assert response["Content-Disposition"].startswith('attachment; filename="sundown-evidence-')
    pack = tmp_path / "dashboard.zip"
    pack.write_bytes(response.content)
    assert _verify(pack, cwd=tmp_path).returncode == 0


def test_pack_of_another_agency_is_not_found(vendor_world, other_agency, procurement):
    from django.test import Client

    from tests.factories import UserFactory
    from vendors.permissions import role_grant

    vendor, contract, _, _ = vendor_world
    other_auditor = UserFactory(username="other-auditor")
    role_grant(user=other_auditor, agency=other_agency, role="auditor")
    api = Client()
    api.force_login(other_auditor)
    assert api.get(f"/api/v1/vendor-evidence-packs/{vendor.pk}/").status_code == 404
    assert api.post(f"/vendors/{vendor.pk}/evidence-pack/").status_code == 404
    api.force_login(procurement)  # own agency, but no audit permission
    assert api.get(f"/api/v1/contract-evidence-packs/{contract.pk}/").status_code == 403
