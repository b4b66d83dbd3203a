"""Rows stored before the API's depth limit (issue 10, stored denial of service).

A system config or an audit event nested ~900 deep, written before api.parsers refused
such bodies, was a RecursionError (a 500) on every page and list that read it. Here
they are written with raw SQL, as nothing today lets them in, and every path that reads
them answers: pages and lists show them cut short with a marker, and the audit chain,
its Merkle tree and evidence packs still cover the stored bytes exactly.
"""

import io
import json
import zipfile

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from audit.actor import Actor
from audit.hashing import batch_hashes, batch_pieces
from audit.models import AuditEvent
from audit.services import audit_record_standalone
from audit.shipping import audit_ship_sink
from config.json_depth import (
    MAX_DEPTH,
    TRUNCATED,
    Truncated,
    canonical_text,
    dumps_canonical,
    loads,
    read_bounded,
)
from jobs.models import Job
from tests.api.conftest import token_client
from tests.audit.test_evidence import _verify
from tests.factories import ContractFactory, CredentialFactory, SystemFactory, VendorFactory
from tests.sessions import signed_in

pytestmark = pytest.mark.django_db
DEPTH = 900


def nested(depth: int = DEPTH) -> str:
    """``{"a":{"a":...{}...}}``: ``depth`` objects, in canonical (compact) form."""
    return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)


def append_raw(*, action: str, target: tuple, agency_id: int, after: str) -> int:
    """Append an event whose ``after`` is the JSON text ``after``, through the database's
    own append functions (as audit_record did before the limit), bypassing Python's json."""
    actor = Actor.system("legacy import")
    record = {
        "actor_type": actor.type,
        "actor_id": actor.id,
        "actor_name": actor.name,
        "source_ip": None,
        "request_id": actor.request_id,
        "action": action,
        "target_type": target[0],
        "target_id": str(target[1]),
        "target_repr": target[2],
        "agency_id": agency_id,
        "before": None,
        "after": "PLACEHOLDER",
    }
    (head,), middle, (tail,), (fields,) = batch_pieces([record], record)
    head, fields = (piece.replace('"PLACEHOLDER"', after) for piece in (head, fields))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT * FROM audit_lock_head()")
        seq, prev, _, time = cursor.fetchone()
        (digest,) = batch_hashes([head], middle, [tail], seq=seq, prev=prev, time=time)
        cursor.execute(
            "SELECT audit_append_rows(%s, %s, %s, %s, %s, %s)",
            [actor.type, actor.id, actor.name, None, actor.request_id, fields + digest],
        )
        return seq + 1


@pytest.fixture
def deep(agency, officer):
    vendor = VendorFactory(agency=agency, name="Legacy Vendor")
    contract = ContractFactory(vendor=vendor)
    system = SystemFactory(agency=agency, name="legacy-db", kind="manual")
    CredentialFactory(vendor=vendor, system=system, contracts=[contract], external_id="old")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE access_system SET config = %s::jsonb WHERE id = %s",
            [json.dumps({"host": "db.invalid"})[:-1] + ', "nested": ' + nested() + "}", system.pk],
        )
    after = '{"config":' + nested() + ',"name":"legacy-db"}'
    seq = append_raw(
        action="system.created",
        target=("access.system", system.pk, "legacy-db"),
        agency_id=agency.pk,
        after=after,
    )
    vendor_seq = append_raw(
        action="vendor.updated",
        target=("vendors.vendor", vendor.pk, vendor.name),
        agency_id=agency.pk,
        after='{"notes":' + nested() + "}",
    )
    return {"system": system, "vendor": vendor, "seq": seq, "vendor_seq": vendor_seq}


def test_reading_bounded_json_keeps_the_whole_for_the_hash():
    text = '{"b": [1, 2.5, true, null, "é\\u0000"], "a": ' + nested(40) + "}"
    assert loads(text) == json.loads(text)
    assert dumps_canonical(json.loads(text)) == json.dumps(
        json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    value = read_bounded(text)
    assert isinstance(value, Truncated) and value.canonical == canonical_text(text)
    depth, inner = 1, value["a"]
    while isinstance(inner, dict):
        depth, inner = depth + 1, inner["a"]
    assert (depth, inner) == (MAX_DEPTH, TRUNCATED)
    assert read_bounded('{"a": [[1]]}') == {"a": [[1]]}  # shallow: as json.loads
    assert canonical_text(nested(DEPTH)) == nested(DEPTH)  # no RecursionError at any depth
    for bad in ("{", '{"a" 1}', "[1,]", "01", "nul", "[1] x"):
        with pytest.raises(ValueError):
            loads(bad)


def test_dashboard_pages_answer_and_say_the_config_must_be_entered_again(deep, officer):
    client = signed_in(officer)
    system = deep["system"]
    pages = ("/", "/systems/", "/credentials/new/", "/audit/", f"/systems/{system.pk}/")
    for url in (*pages, f"/systems/{system.pk}/edit/"):
        response = client.get(url)
        assert response.status_code == 200, url
    page = client.get(f"/systems/{system.pk}/").content.decode()
    assert 'data-testid="config-truncated"' in page and "Enter this system" in page
    assert TRUNCATED in client.get("/audit/").content.decode()
    export = client.get("/audit/export.csv")
    assert export.status_code == 200
    assert TRUNCATED in b"".join(export.streaming_content).decode()


def test_api_lists_answer_with_the_marker(deep, officer):
    api = token_client(officer)
    system = deep["system"]
    for url in (
        "/api/v1/systems/",
        f"/api/v1/systems/{system.pk}/",
        "/api/v1/audit-events/",
        f"/api/v1/audit-events/{deep['seq']}/",
    ):
        response = api.get(url)
        assert response.status_code == 200, url
        assert TRUNCATED in response.content.decode(), url


def test_the_chain_and_evidence_pack_cover_the_stored_bytes(
    deep, officer, tmp_path, tasks_run_on_commit
):
    audit_record_standalone(actor=Actor.system("tests"), action="tests.after")
    call_command("audit_verify", stdout=io.StringIO())  # raises CommandError when broken

    # The pack is a job (started by a POST, made by the worker, here in this process).
    client = signed_in(officer)
    started = tasks_run_on_commit(
        lambda: client.post(f"/vendors/{deep['vendor'].pk}/evidence-pack/")
    )
    assert started.status_code == 302, started.status_code
    job = Job.objects.get(kind=Job.Kind.EVIDENCE_PACK)
    assert job.state == Job.State.SUCCEEDED, job.error
    response = client.get(f"/jobs/{job.pk}/download/")
    assert response.status_code == 200
    pack = tmp_path / "pack.zip"
    pack.write_bytes(response.content)
    with zipfile.ZipFile(pack) as archive:
        lines = archive.read("events.jsonl").decode().splitlines()
    shipped = [json.loads(line) for line in lines if f'"seq": {deep["vendor_seq"]},' in line]
    assert shipped and nested() in shipped[0]["canonical"]
    result = _verify(pack, "--key", _verifier_key(), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def _verifier_key() -> str:
    from audit.signing import signing_key

    return signing_key().verifier()


class ListSink:
    name = "list"

    def __init__(self):
        self.lines: list[str] = []

    def send(self, lines, *, topic="audit"):
        self.lines.extend(lines)


def test_siem_shipping_sends_the_event_cut_short(deep):
    sink = ListSink()
    audit_ship_sink(sink=sink)
    events = [json.loads(line) for line in sink.lines]
    shipped = next(e for e in events if e["metadata"]["sequence"] == deep["seq"])
    assert TRUNCATED in json.dumps(shipped)
    assert AuditEvent.objects.count() == len(events)
