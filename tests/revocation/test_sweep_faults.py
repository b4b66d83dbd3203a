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


# The read of every due credential joins every contract that ever ended to its
# credentials; a sweep makes it only when something can have become due.


@pytest.fixture
def due_reads(monkeypatch):
    from revocation.services import sweep

    reads: list[int] = []
    real = sweep._due_ids

    def counted():
        ids = real()
        reads.append(len(ids))
        return ids

    monkeypatch.setattr(sweep, "_due_ids", counted)
    return reads


def test_a_sweep_with_nothing_new_skips_the_read_of_every_due_credential(
    vendor, batches, due_reads
):
    system = SystemFactory(agency=vendor.agency)
    [first] = _due(vendor, system, 1)
    live = CredentialFactory(
        vendor=vendor, system=system, contracts=[ContractFactory(vendor=vendor)]
    )

    assert services.revocation_sweep().requested == 1  # reads: a contract past its end
    assert services.revocation_sweep().requested == 0  # reads: the last read found one
    assert services.revocation_sweep().requested == 0  # nothing ended or changed since
    assert due_reads == [1, 0]
    assert Credential.objects.get(pk=first.pk).status == "pending"
    assert Credential.objects.get(pk=live.pk).status == "active"


def test_a_contract_that_reaches_its_end_or_is_changed_is_read_at_once(vendor, batches, due_reads):
    from django.db.models.functions import Now

    from vendors.models import Contract

    system = SystemFactory(agency=vendor.agency)
    services.revocation_sweep()
    services.revocation_sweep()
    assert due_reads == [0]
    # Its end comes with time, no write to the contract: past the last read's stamp.
    reached = ContractFactory(vendor=vendor)
    ends = CredentialFactory(vendor=vendor, system=system, contracts=[reached])
    Contract.objects.filter(pk=reached.pk).update(access_ends_at=Now())
    assert services.revocation_sweep().requested == 1
    services.revocation_sweep()  # the read that finds none
    assert services.revocation_sweep().requested == 0
    # An end dated back to before the last read (an early termination): the contract
    # was written since.
    backdated = ContractFactory(vendor=vendor)
    later = CredentialFactory(vendor=vendor, system=system, contracts=[backdated])
    backdated.access_ends_at = timezone.now() - timezone.timedelta(days=2)
    backdated.save()
    assert services.revocation_sweep().requested == 1
    assert due_reads == [0, 1, 0, 1]
    assert {ends.pk, later.pk} == set(
        Credential.objects.filter(status="pending").values_list("pk", flat=True)
    )


def test_a_credential_skipped_by_a_sweep_is_found_by_the_next(vendor, batches, due_reads):
    # A chunk passes over a row another transaction holds (SKIP LOCKED); the contract
    # is marked ended all the same. The read found it due, so the next sweep reads again.
    import threading

    from django.db import connection, transaction

    system = SystemFactory(agency=vendor.agency)
    held, free = _due(vendor, system, 2)
    locked, release = threading.Event(), threading.Event()

    def hold():
        with transaction.atomic():
            Credential.objects.select_for_update().get(pk=held.pk)
            locked.set()
            release.wait(10)
        connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(10)
        assert services.revocation_sweep().requested == 1
    finally:
        release.set()
        holder.join()
    assert services.revocation_sweep().requested == 1
    assert Credential.objects.get(pk=held.pk).status == "pending"
    assert Credential.objects.get(pk=free.pk).status == "pending"
    assert due_reads == [2, 1]


def test_a_credential_made_due_by_the_registry_waits_for_the_periodic_read(
    vendor, batches, due_reads, settings
):
    system = SystemFactory(agency=vendor.agency)
    ended = ContractFactory(vendor=vendor, end_date=timezone.localdate())
    ended.access_ends_at = timezone.now()
    ended.save()
    live = ContractFactory(vendor=vendor)
    credential = CredentialFactory(vendor=vendor, system=system, contracts=[ended, live])
    services.revocation_sweep()  # nothing due: its live contract keeps it
    services.revocation_sweep()  # reads again: the first marked the contract ended
    credential.contracts.remove(live)  # the link table only: no contract written
    assert services.revocation_sweep().requested == 0
    settings.SUNDOWN_SWEEP_FULL_SECONDS = 0
    assert services.revocation_sweep().requested == 1
    assert due_reads == [0, 0, 1]


def test_a_contract_ending_within_the_second_gets_its_sweep_at_its_end(
    vendor, batches, monkeypatch
):
    from vendors.models import Contract

    scheduled: list[float] = []
    monkeypatch.setattr(
        tasks.revocation_sweep_task,
        "apply_async",
        lambda **kwargs: scheduled.append(kwargs["countdown"]),
    )
    contract = ContractFactory(vendor=vendor)
    CredentialFactory(
        vendor=vendor, system=SystemFactory(agency=vendor.agency), contracts=[contract]
    )
    Contract.objects.filter(pk=contract.pk).update(
        access_ends_at=timezone.now() + timezone.timedelta(seconds=0.4)
    )
    services.revocation_sweep()
    # 0.1 s after the end, not a second after the sweep that saw it coming.
    (countdown,) = scheduled
    assert 0.25 <= countdown <= 0.55
