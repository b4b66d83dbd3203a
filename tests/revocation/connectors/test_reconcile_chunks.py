"""A reconciliation pass writes in chunks, each its own short transaction (issue 16).

A pass over a real htpasswd target with a chunk of two accounts: it writes what one
transaction wrote (findings, counts, audit events; the chain verifies), between two
chunks another connection appends to the audit chain and updates a credential of the
system at once (nothing of the pass is held), a pass that dies after its first chunk
is completed by the next without duplicates, and a run abandoned meanwhile stops.

Transactional tests: the other connections must see what each chunk committed.
"""

import threading
from collections import Counter

import pytest
from django.db import connection, transaction
from django.db.models.functions import Now
from django.utils import timezone

import findings.reconciliation as reconciliation
from access.models import Credential
from audit.actor import Actor
from audit.models import AuditEvent
from audit.selectors import audit_chain_verify
from audit.services import audit_record
from findings.models import Finding, ReconciliationRun
from findings.reconciliation import reconciliation_request, reconciliation_run, run_counts
from tests.revocation.connectors.servers import credentials

pytestmark = pytest.mark.django_db(transaction=True)

OFFICER = Actor.system("tests")


def reconcile(system) -> ReconciliationRun:
    run, _ = reconciliation_request(actor=OFFICER, system=system, trigger="manual", enqueue=False)
    done = reconciliation_run(run_id=run.pk)
    assert done is not None
    return done


def target(htpasswd_system, htpasswd_file, *, orphans: int = 5):
    """A system whose pass has work for about ten subjects: orphans (the file's own two
    and ``orphans`` more), two live credentials (their first sighting is stamped), one
    revoked in the registry but enabled on the target (drift) and one the target does
    not have (not found)."""
    for _ in range(orphans):
        htpasswd_file.add_user()
    live = [htpasswd_file.add_user(), htpasswd_file.add_user()]
    drifted = htpasswd_file.add_user()
    system = htpasswd_system()
    rows = credentials(system, [*live, drifted, "never_there"])
    Credential.objects.filter(pk=rows[2].pk).update(
        status=Credential.Status.REVOKED, revoked_at=timezone.now()
    )
    return system, rows


def in_other_connection(work):
    """Run ``work`` in another thread, so on another database connection; re-raise."""
    outcome: list = []

    def run():
        try:
            outcome.append(work())
        except BaseException as exc:  # handed back to the test
            outcome.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert outcome, "the other connection did not finish"
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


def after_each_chunk(monkeypatch, hook):
    """Call ``hook(number)`` once each chunk of findings has committed, before the next
    one starts (the real chunk_write runs unchanged)."""
    write = reconciliation.chunk_write
    number = [0]

    def spy(**kwargs):
        opened = write(**kwargs)
        number[0] += 1
        transaction.on_commit(lambda n=number[0]: hook(n))
        return opened

    monkeypatch.setattr(reconciliation, "chunk_write", spy)
    return number


def transactions(system) -> int:
    """How many transactions opened the findings of ``system``: each stamps its own with
    its database clock, PostgreSQL's now(), the same for a whole transaction (savepoints
    included) and another for the next."""
    return len(set(Finding.objects.filter(system=system).values_list("first_seen_at", flat=True)))


def findings_of(system) -> Counter:
    return Counter(
        Finding.objects.filter(system=system).values_list("kind", "account", "severity", "status")
    )


def events_of(system) -> Counter:
    """The pass's audit events about ``system``, without the ids that differ between
    two systems (the run, the findings' and credentials' own ids)."""
    cred_ids = {str(pk) for pk in system.credentials.values_list("pk", flat=True)}
    seen: Counter = Counter()
    for action, target_id, after in AuditEvent.objects.values_list("action", "target_id", "after"):
        if action == "finding.opened" and after["system"] == system.pk:
            seen[(action, after["kind"], after["account"], after["severity"])] += 1
        elif action == "credential.revocation_requested" and target_id in cred_ids:
            seen[(action, after["trigger"])] += 1
        elif action == "system.reconciled" and target_id == str(system.pk):
            seen[(action, tuple(sorted((k, v) for k, v in after.items() if k != "run")))] += 1
    return seen


def test_chunks_write_what_one_transaction_wrote(htpasswd_system, htpasswd_file, settings):
    whole, _ = target(htpasswd_system, htpasswd_file)
    chunked = htpasswd_system()  # the same file: the same accounts
    rows = credentials(chunked, [c.external_id for c in whole.credentials.order_by("pk")])
    Credential.objects.filter(pk=rows[2].pk).update(
        status=Credential.Status.REVOKED, revoked_at=timezone.now()
    )

    settings.SUNDOWN_RECONCILE_CHUNK = 1_000_000
    one = reconcile(whole)
    settings.SUNDOWN_RECONCILE_CHUNK = 2
    many = reconcile(chunked)

    assert one.status == many.status == "succeeded"
    assert one.findings_opened == 9 and one.drifted == 1 and one.not_found == 1
    assert {k: v for k, v in run_counts(one).items() if k != "run"} == {
        k: v for k, v in run_counts(many).items() if k != "run"
    }
    assert findings_of(whole) == findings_of(chunked)
    assert events_of(whole) == events_of(chunked)
    assert (
        Credential.objects.get(pk=rows[2].pk).status == Credential.Status.PENDING
    )  # sent back to revocation (drift)
    assert not chunked.credentials.filter(
        external_id__in=[r.external_id for r in rows[:3]], last_seen_on_target_at=None
    ).exists()
    # One transaction opened every finding of the single pass; several the chunked one's.
    assert transactions(whole) == 1
    assert transactions(chunked) >= 4
    assert audit_chain_verify().ok

    # The steady state: a second chunked pass opens nothing and duplicates nothing.
    again = reconcile(chunked)
    assert again.findings_opened == 0 and again.findings_resolved == 0
    assert findings_of(whole) == findings_of(chunked)


def test_between_chunks_others_append_and_update_the_systems_credentials(
    htpasswd_system, htpasswd_file, settings, monkeypatch
):
    settings.SUNDOWN_RECONCILE_CHUNK = 2
    system, rows = target(htpasswd_system, htpasswd_file)
    seen: list[tuple[int, str, int]] = []

    def other_writer(number):
        def work():
            # A revocation batch's write: a credential of the system and its audit
            # event, under a lock timeout far below what a whole pass holds.
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '500ms'")
                Credential.objects.filter(pk__in=[r.pk for r in rows]).update(updated_at=Now())
                audit_record(actor=OFFICER, action="test.between_chunks", after={"n": number})
            run = ReconciliationRun.objects.get(system=system)
            return run.status, Finding.objects.filter(system=system).count()

        status, committed = in_other_connection(work)
        seen.append((number, status, committed))

    after_each_chunk(monkeypatch, other_writer)
    run = reconcile(system)

    assert run.status == "succeeded" and run.findings_opened == 9
    assert len(seen) >= 4
    # While the pass was still running, each chunk's findings were already committed.
    assert all(status == "running" for _, status, _ in seen)
    assert [committed for _, _, committed in seen] == sorted(c for _, _, c in seen)
    assert 0 < seen[0][2] < run.findings_opened
    # The other writer's events sit between the pass's own in the chain.
    between = AuditEvent.objects.filter(action="test.between_chunks").values_list("seq", flat=True)
    pass_events = AuditEvent.objects.filter(action="finding.opened").values_list("seq", flat=True)
    reconciled = AuditEvent.objects.get(action="system.reconciled").seq
    assert min(pass_events) < min(between) and max(between) < reconciled
    assert min(between) < max(pass_events)
    assert audit_chain_verify().ok


class WorkerKilled(BaseException):
    """What a worker killed mid-pass looks like from inside: the pass goes no further."""


@pytest.mark.parametrize("death,left", [(RuntimeError, "failed"), (WorkerKilled, "running")])
def test_a_rerun_after_a_pass_died_after_its_first_chunk_duplicates_nothing(
    htpasswd_system, htpasswd_file, settings, monkeypatch, death, left
):
    settings.SUNDOWN_RECONCILE_CHUNK = 2
    system, _ = target(htpasswd_system, htpasswd_file)
    write = reconciliation.chunk_write
    calls = [0]

    def dies_at_the_second_chunk(**kwargs):
        calls[0] += 1
        if calls[0] == 2:
            raise death("lost the worker")
        return write(**kwargs)

    monkeypatch.setattr(reconciliation, "chunk_write", dies_at_the_second_chunk)
    first, _ = reconciliation_request(actor=OFFICER, system=system, trigger="manual", enqueue=False)
    with pytest.raises(death):
        reconciliation_run(run_id=first.pk)
    first.refresh_from_db()
    assert first.status == left
    # The first chunk stays, with its audit events; the run says so.
    committed = {f.pk for f in Finding.objects.filter(system=system)}
    assert 0 < len(committed) < 9 and first.findings_opened == len(committed)
    assert AuditEvent.objects.filter(action="finding.opened").count() == len(committed)
    assert not AuditEvent.objects.filter(action="system.reconciled")
    if left == "failed":
        assert AuditEvent.objects.filter(action="system.reconciliation_failed").count() == 1

    monkeypatch.setattr(reconciliation, "chunk_write", write)
    settings.SUNDOWN_RECONCILE_STALE_SECONDS = 0  # the killed worker's run is stale now
    again = reconcile(system)

    assert again.status == "succeeded"
    first.refresh_from_db()
    assert first.status == ("failed" if left == "failed" else "abandoned")
    assert first.findings_opened + again.findings_opened == 9
    live = Counter(
        Finding.objects.filter(system=system, status__in=Finding.LIVE).values_list(
            "kind", "account"
        )
    )
    assert len(live) == 9 and set(live.values()) == {1}
    assert AuditEvent.objects.filter(action="finding.opened").count() == 9
    for finding in Finding.objects.filter(pk__in=committed):
        assert finding.times_seen == 2  # opened by the first pass, seen by the second
    assert audit_chain_verify().ok


def test_a_run_abandoned_between_chunks_stops(
    htpasswd_system, htpasswd_file, settings, monkeypatch
):
    settings.SUNDOWN_RECONCILE_CHUNK = 2
    system, _ = target(htpasswd_system, htpasswd_file)
    queued: list[ReconciliationRun] = []

    def a_later_request_finds_it_stale(number):
        if number == 1:
            settings.SUNDOWN_RECONCILE_STALE_SECONDS = 0
            run, new = in_other_connection(
                lambda: reconciliation_request(
                    actor=OFFICER, system=system, trigger="manual", enqueue=False
                )
            )
            assert new
            queued.append(run)

    after_each_chunk(monkeypatch, a_later_request_finds_it_stale)
    first = reconcile(system)

    assert first.status == "abandoned"
    assert not AuditEvent.objects.filter(action="system.reconciled")
    committed = Finding.objects.filter(system=system).count()
    assert 0 < committed < 9 and first.findings_opened == committed
    settings.SUNDOWN_RECONCILE_STALE_SECONDS = 900
    (later,) = queued
    done = reconciliation_run(run_id=later.pk)
    assert done is not None and done.status == "succeeded"
    assert Finding.objects.filter(system=system).count() == 9
    assert AuditEvent.objects.filter(action="finding.opened").count() == 9
    assert audit_chain_verify().ok
