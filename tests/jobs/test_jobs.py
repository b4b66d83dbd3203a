"""Jobs (CSV imports, evidence packs) without a browser: started in one transaction
with the task sent on commit, done once however often the message comes, the work and
the job's end committed together, progress written as it goes, every start and end
audited, the upload sealed and gone once the job ends, and stale jobs ended by the
sweep. A real worker runs them in tests/e2e/test_jobs_e2e.py."""

import datetime as dt
import io
import json
import zipfile

import pytest
from django.db import transaction
from django.db.models.functions import Now

from access.crypto import unseal
from audit.actor import Actor
from audit.models import AuditEvent
from jobs.models import Job
from jobs.runners import RUNNERS, job_run
from jobs.selectors import job_get
from jobs.services import JobLost, job_actor, job_claim, job_start, jobs_sweep
from tests.factories import ContractFactory, VendorFactory
from vendors.imports import contract_import_check
from vendors.models import Contract

pytestmark = pytest.mark.django_db


def _rows(n: int, prefix: str = "JOB") -> list[dict]:
    return [
        {
            "vendor": "HRB-1",
            "reference": f"{prefix}-{i:04d}",
            "start_date": "2026-01-01",
            "end_date": "2027-01-01",
        }
        for i in range(n)
    ]


@pytest.fixture
def vendor(agency):
    return VendorFactory(agency=agency, name="Acme Data Services", registration_number="HRB-1")


@pytest.fixture
def clerk(procurement):
    return Actor.for_user(procurement, source_ip="192.0.2.7", request_id="req-import")


def _start_import(clerk, agency, rows):
    return job_start(
        actor=clerk,
        agency=agency,
        kind=Job.Kind.CONTRACT_IMPORT,
        subject={"file_name": "contracts.csv", "rows": len(rows)},
        payload=json.dumps(rows).encode(),
        total=len(rows),
    )


def _events(job, action):
    return AuditEvent.objects.filter(action=action, target_type="jobs.job", target_id=str(job.pk))


def test_a_start_is_audited_sealed_and_sent_only_on_commit(
    clerk, agency, vendor, django_capture_on_commit_callbacks
):
    rows = _rows(3)
    with django_capture_on_commit_callbacks() as sent:
        job = _start_import(clerk, agency, rows)
    assert len(sent) == 1  # the task, once the job row is committed
    job.refresh_from_db()
    assert job.state == Job.State.QUEUED and (job.done, job.total) == (0, 3)
    stored = bytes(job.payload)
    assert b"JOB-0001" not in stored  # sealed at rest
    assert json.loads(unseal(stored)) == rows
    started = _events(job, "job.started").get()
    assert started.agency_id == agency.pk and started.actor_name == "clerk"
    assert started.after == {
        "kind": "contract_import",
        "file_name": "contracts.csv",
        "rows": 3,
        "total": 3,
    }
    assert job_actor(job).request_id == "req-import"


def test_an_import_job_writes_as_its_starter_and_ends_with_the_work(
    clerk, agency, vendor, tasks_run_on_commit
):
    job = tasks_run_on_commit(lambda: _start_import(clerk, agency, _rows(250)))
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED and (job.done, job.total) == (250, 250)
    assert job.result == {"created": 250} and job.payload is None
    assert Contract.objects.filter(reference__startswith="JOB-").count() == 250
    created = AuditEvent.objects.filter(action="contract.created")
    # The clerk's import, tied to the request that started it, though a worker wrote it.
    assert set(created.values_list("actor_name", "request_id", "source_ip")) == {
        ("clerk", "req-import", "192.0.2.7")
    }
    ended = _events(job, "job.succeeded").get()
    assert ended.after["created"] == 250 and ended.seq > created.order_by("-seq")[0].seq
    # A second delivery of the message finds the job taken and does nothing.
    assert job_run(job_id=job.pk) is None
    assert _events(job, "job.succeeded").count() == 1 and created.count() == 250


def test_the_check_reports_its_progress(agency, vendor):
    seen: list[tuple[int, int]] = []
    contracts, problems = contract_import_check(
        agency=agency, rows=_rows(1000), progress=lambda done, total: seen.append((done, total))
    )
    assert len(contracts) == 1000 and not problems
    assert 100 <= len(seen) <= 101 and seen[-1] == (1000, 1000)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_a_bad_file_fails_the_job_with_every_row_problem(
    clerk, agency, vendor, tasks_run_on_commit
):
    rows = _rows(2) + [{"vendor": "HRB-404", "reference": "", "start_date": "x", "end_date": ""}]
    job = tasks_run_on_commit(lambda: _start_import(clerk, agency, rows))
    job.refresh_from_db()
    assert job.state == Job.State.FAILED and job.payload is None
    assert job.error == "Nothing was imported: 1 bad row."
    ((line, reference, problems),) = job.result["row_errors"]
    assert line == 4 and reference == "" and len(problems) == 4
    assert not Contract.objects.filter(reference__startswith="JOB-").exists()
    assert _events(job, "job.failed").get().after["error"] == job.error


def test_work_is_undone_when_the_sweep_ended_the_job_meanwhile(clerk, agency, vendor):
    job = _start_import(clerk, agency, _rows(5))
    job = job_claim(job_id=job.pk, worker="test")
    Job.objects.filter(pk=job.pk).update(state=Job.State.FAILED)  # what the sweep does
    with pytest.raises(JobLost):
        RUNNERS[job.kind](job, job_actor(job), lambda done, total: None)
    assert not Contract.objects.filter(reference__startswith="JOB-").exists()
    assert not _events(job, "job.succeeded").exists()


def test_an_internal_error_fails_the_job_and_is_raised(clerk, agency, vendor):
    job = _start_import(clerk, agency, _rows(1))
    Job.objects.filter(pk=job.pk).update(payload=b"not a sealed document")
    with pytest.raises(ValueError, match="cannot be decrypted"):
        job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.state == Job.State.FAILED and job.payload is None
    assert job.error == "Internal error (see the worker's log)."
    assert _events(job, "job.failed").exists()


def test_the_sweep_ends_stale_jobs_and_drops_old_files(clerk, agency, vendor, settings):
    settings.SUNDOWN_JOB_STALE_SECONDS = 600
    stale = _start_import(clerk, agency, _rows(1))
    fresh = _start_import(clerk, agency, _rows(1, "NEW"))
    old_pack = _start_import(clerk, agency, _rows(1, "OLD"))
    Job.objects.filter(pk=stale.pk).update(created_at=Now() - dt.timedelta(minutes=11))
    Job.objects.filter(pk=old_pack.pk).update(
        state=Job.State.SUCCEEDED,
        result_file=b"zip",
        payload=None,
        finished_at=Now() - dt.timedelta(hours=25),
    )
    assert jobs_sweep() == (1, 1)
    stale.refresh_from_db()
    assert stale.state == Job.State.FAILED and stale.payload is None
    assert stale.error == "No worker finished this job within 10 minutes; start it again."
    assert _events(stale, "job.failed").get().actor_name == "system:jobs"
    assert Job.objects.get(pk=fresh.pk).state == Job.State.QUEUED
    assert Job.objects.get(pk=old_pack.pk).result_file is None
    assert jobs_sweep() == (0, 0)
    # A worker that gets the stale job's message now leaves it alone.
    assert job_run(job_id=stale.pk) is None


def test_an_evidence_pack_job_keeps_the_zip_for_download(
    officer, auditor, agency, vendor, tasks_run_on_commit
):
    contract = ContractFactory(vendor=vendor, reference="ACME-1")
    from vendors.services import contract_terminate

    contract_terminate(actor=Actor.for_user(officer), contract=contract, reason="breach")
    actor = Actor.for_user(auditor, request_id="req-pack")
    job = tasks_run_on_commit(
        lambda: job_start(
            actor=actor,
            agency=agency,
            kind=Job.Kind.EVIDENCE_PACK,
            subject={"vendor": vendor.pk, "contract": None, "label": vendor.name},
        )
    )
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED
    assert job.total == job.done == job.result["events"] >= 1
    with zipfile.ZipFile(io.BytesIO(bytes(job.result_file))) as pack:
        manifest = json.loads(pack.read("manifest.json"))
    assert manifest["generated_by"] == "auditor" and manifest["vendor"]["id"] == vendor.pk
    assert job.result["file_name"].startswith(f"sundown-evidence-vendor-{vendor.pk}-")
    exported = AuditEvent.objects.get(action="audit.evidence_exported")
    assert exported.request_id == "req-pack" and exported.agency_id == agency.pk
    assert _events(job, "job.succeeded").get().seq == exported.seq + 1  # one transaction


def test_each_kind_is_seen_where_its_permission_is_held(
    clerk, agency, vendor, procurement, auditor, officer, outsider
):
    imported = _start_import(clerk, agency, _rows(1))
    pack = job_start(
        actor=Actor.for_user(auditor),
        agency=agency,
        kind=Job.Kind.EVIDENCE_PACK,
        subject={"vendor": vendor.pk, "contract": None, "label": vendor.name},
    )
    assert job_get(user=procurement, pk=imported.pk) is not None
    assert job_get(user=procurement, pk=pack.pk) is None  # no view_audit
    assert job_get(user=auditor, pk=imported.pk) is None  # no manage_contracts
    assert job_get(user=auditor, pk=pack.pk) is not None
    assert job_get(user=officer, pk=pack.pk) is not None
    assert (
        job_get(user=outsider, pk=pack.pk) is None
        and job_get(user=outsider, pk=imported.pk) is None
    )


def test_the_database_keeps_the_counts_honest(clerk, agency, vendor):
    job = _start_import(clerk, agency, _rows(2))
    with pytest.raises(Exception, match="job_done_le_total"), transaction.atomic():
        Job.objects.filter(pk=job.pk).update(done=3)


def test_beat_sweeps_every_minute(settings):
    from config.celery import app
    from jobs.tasks import jobs_sweep_task

    entry = settings.CELERY_BEAT_SCHEDULE["jobs-sweep"]
    assert entry["task"] == "jobs.sweep" == jobs_sweep_task.name and entry["schedule"] == 60
    assert {"jobs.run", "jobs.sweep"} <= set(app.tasks)
    assert jobs_sweep_task() == 0  # nothing stale
