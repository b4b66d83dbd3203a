"""The sweep when workers die and the broker is away: a large sweep hands its chunks to
other workers (a killed worker takes one chunk with it, not the rest of the sweep), each
credential is requested once however often a chunk runs, and a broker that refuses
costs no system its dispatch and no chunk its request.

The broker's refusal is kombu's own error raised where the message would be published:
what Celery raises when Redis is down (a real Redis restart under a worker:
test_worker_faults.py)."""

import logging

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError

from access.models import Credential
from audit.models import AuditEvent
from ops.models import Heartbeat
from revocation import services, tasks
from revocation.services.dispatch import revocation_dispatch_due
from tests.factories import ContractFactory, CredentialFactory, SystemFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _due(vendor, system, n):
    ended = ContractFactory(vendor=vendor, end_date=timezone.localdate())
    ended.access_ends_at = timezone.now()
    ended.save()
    return [CredentialFactory(vendor=vendor, system=system, contracts=[ended]) for _ in range(n)]


def _requested(credential) -> int:
    return AuditEvent.objects.filter(
        action="credential.revocation_requested", target_id=str(credential.pk)
    ).count()


@pytest.fixture
def batches(monkeypatch):
    """Batch tasks the services publish, by system id (publishing is the broker's job)."""
    sent: list[int] = []
    monkeypatch.setattr(tasks.revoke_system_batch_task, "delay", lambda sid, **kw: sent.append(sid))
    return sent


def test_a_large_sweep_hands_its_chunks_to_other_workers_each_requested_once(
    vendor, batches, monkeypatch
):
    credentials = _due(vendor, SystemFactory(agency=vendor.agency), 5)
    chunks: list[list[int]] = []
    monkeypatch.setattr(tasks.revocation_request_due_task, "delay", chunks.append)

    result = services.revocation_sweep(chunk=2, fan_out=True)

    # The sweep requests the first chunk itself and sends the other two.
    assert result.requested == 2 and result.handed_out == 3
    assert [len(ids) for ids in chunks] == [2, 1]
    assert Credential.objects.filter(status="pending").count() == 2
    for ids in chunks:
        assert tasks.revocation_request_due_task(ids) == len(ids)
    # A chunk delivered twice (or handed out again by the next sweep) changes nothing.
    assert tasks.revocation_request_due_task(chunks[0]) == 0
    assert Credential.objects.filter(status="pending").count() == 5
    assert [_requested(c) for c in credentials] == [1] * 5
    assert Heartbeat.objects.get(name="sweep").detail["handed_out"] == 3


def test_with_the_broker_down_the_sweep_requests_every_chunk_itself(
    vendor, batches, monkeypatch, caplog
):
    credentials = _due(vendor, SystemFactory(agency=vendor.agency), 5)

    def refused(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.revocation_request_due_task, "delay", refused)
    monkeypatch.setattr(tasks.revocation_sweep_task, "apply_async", refused)
    with caplog.at_level(logging.ERROR):
        result = services.revocation_sweep(chunk=2, fan_out=True)

    assert result.requested == 5 and result.handed_out == 0
    assert [_requested(c) for c in credentials] == [1] * 5
    assert "could not hand out a chunk of the sweep" in caplog.text
    assert Heartbeat.objects.filter(name="sweep").exists()  # the sweep ran to its end


def test_broker_errors_in_the_sweeps_dispatch_are_caught_per_system(vendor, monkeypatch, caplog):
    """The broker refuses the first system's message: the systems after it still get
    theirs in the same sweep (the first's rows stay due for the next one)."""
    systems = [SystemFactory(agency=vendor.agency) for _ in range(3)]
    for system in systems:
        _due(vendor, system, 1)
    services.revocation_sweep(chunk=10)  # requests them (dispatch recorded below)
    first = min(s.pk for s in systems)
    sent: list[int] = []

    def publish(system_id, **kwargs):
        if system_id == first:
            raise OperationalError("Connection reset by peer")
        sent.append(system_id)

    monkeypatch.setattr(tasks.revoke_system_batch_task, "delay", publish)
    with caplog.at_level(logging.ERROR):
        plan = revocation_dispatch_due()

    assert set(plan) == {s.pk for s in systems}
    assert sorted(sent) == sorted(s.pk for s in systems if s.pk != first)
    assert f"could not enqueue revocation of system {first}" in caplog.text
    assert Credential.objects.filter(status="pending").count() == 3


def test_a_chunk_requests_only_what_is_still_due_when_it_runs(vendor, batches):
    # A handed-out chunk runs later than the sweep that found it: by then one
    # credential got a live contract, one lost every contract, one was revoked by
    # hand. The chunk checks each of its rows again and requests the rest only.
    system = SystemFactory(agency=vendor.agency)
    due, gains_live, unlinked, already, other = _due(vendor, system, 5)
    gains_live.contracts.add(ContractFactory(vendor=vendor))
    unlinked.contracts.clear()
    Credential.objects.filter(pk=already.pk).update(status=Credential.Status.PENDING)

    ids = [due.pk, gains_live.pk, unlinked.pk, already.pk]
    assert tasks.revocation_request_due_task(ids) == 1

    statuses = dict(Credential.objects.values_list("pk", "status"))
    assert statuses[due.pk] == "pending"
    assert statuses[gains_live.pk] == "active" and statuses[unlinked.pk] == "active"
    assert statuses[other.pk] == "active"  # due, but not in this chunk
    assert [_requested(c) for c in (due, gains_live, unlinked, already)] == [1, 0, 0, 0]


def test_a_mass_end_is_read_with_hash_joins_and_requests_the_same(vendor, batches, monkeypatch):
    # Past MASS_END_LINKS the due read runs without nested loops (a planner setting
    # for a mass end); what it finds is the same.
    from revocation.services import sweep

    system = SystemFactory(agency=vendor.agency)
    due = _due(vendor, system, 3)
    live = CredentialFactory(
        vendor=vendor, system=system, contracts=[ContractFactory(vendor=vendor)]
    )
    monkeypatch.setattr(sweep, "MASS_END_LINKS", 2)

    assert sweep._due_ids() == [c.pk for c in due]
    assert services.revocation_sweep().requested == 3
    assert Credential.objects.get(pk=live.pk).status == "active"
