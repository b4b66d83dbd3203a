"""A job's page as a person follows it: a labelled native <progress> while a worker
goes, polled by htmx; the polite status line changes only when the state does; then
the import report or the evidence pack's download. Each kind only for those who hold
its permission in the job's agency."""

import io
import json
import re
import zipfile

import pytest
from django.urls import reverse

from audit.actor import Actor
from audit.models import AuditEvent
from jobs.models import Job
from jobs.services import job_claim, job_progress, job_start

pytestmark = pytest.mark.django_db


@pytest.fixture
def import_job(procurement, agency, estate):
    row = {"vendor": "HRB-1", "start_date": "2026-01-01", "end_date": "2027-01-01"}
    rows = [{**row, "reference": f"P-{i}"} for i in range(100)]
    return job_start(
        actor=Actor.for_user(procurement),
        agency=agency,
        kind=Job.Kind.CONTRACT_IMPORT,
        subject={"file_name": "contracts.csv", "rows": 100},
        payload=json.dumps(rows).encode(),
        total=100,
    )


def _status(client, job, shown):
    response = client.get(reverse("job_status", args=[job.pk]), {"shown": shown})
    assert response.status_code == 200
    return response.content.decode()


def test_progress_is_polled_and_only_a_new_state_is_announced(procurement_client, import_job):
    page = procurement_client.get(reverse("job_detail", args=[import_job.pk])).content.decode()
    status_url = reverse("job_status", args=[import_job.pk])
    assert re.search(r'<p class="sd-job-state" id="job-state" role="status"[^>]*>Queued', page)
    assert f'hx-get="{status_url}?shown=queued" hx-trigger="every 2s"' in page
    # Queued: an indeterminate bar (no value), labelled, and the count in words.
    bar = re.search(r"<progress[^>]*>", page).group(0)
    assert 'id="job-progress"' in bar and "value=" not in bar
    assert '<label class="usa-label" for="job-progress">Rows checked</label>' in page
    assert "Not started yet: 100 to go." in page

    # Unchanged: the panel again, no new text for the status line.
    assert "hx-swap-oob" not in _status(procurement_client, import_job, "queued")
    job_claim(job_id=import_job.pk, worker="test")
    job_progress(job_id=import_job.pk, done=40, total=100)
    moved = _status(procurement_client, import_job, "queued")
    assert (
        '<p id="job-state" hx-swap-oob="innerHTML">Running: a worker is checking every row.'
        in moved
    )
    assert re.search(r'<progress[^>]* max="100" value="40"', moved)
    assert "40 of 100 rows checked." in moved and "?shown=running" in moved
    still = _status(procurement_client, import_job, "running")
    assert "hx-swap-oob" not in still and "40 of 100" in still


def test_a_finished_import_stops_polling_and_says_what_was_done(
    procurement_client, import_job, tasks_run_on_commit
):
    from jobs.runners import job_run

    tasks_run_on_commit(lambda: job_run(job_id=import_job.pk))
    done = _status(procurement_client, import_job, "queued")
    assert "hx-trigger" not in done and "<progress" not in done
    assert '<p id="job-state" hx-swap-oob="innerHTML">Finished: 100 contracts imported.' in done
    assert "Imported 100 contracts from contracts.csv." in done
    recent = procurement_client.get(reverse("contract_import")).content.decode()
    assert reverse("job_detail", args=[import_job.pk]) in recent and "finished" in recent


def test_an_evidence_pack_is_started_by_post_and_downloaded(
    auditor_client, auditor, estate, tasks_run_on_commit
):
    url = reverse("vendor_evidence_pack", args=[estate["vendor"].pk])
    assert auditor_client.get(url).status_code == 405  # starting one is a POST
    response = tasks_run_on_commit(lambda: auditor_client.post(url))
    assert response.status_code == 302
    job = Job.objects.get(kind=Job.Kind.EVIDENCE_PACK)
    assert response.url == reverse("job_detail", args=[job.pk])
    page = auditor_client.get(response.url).content.decode()
    assert "Finished: the evidence pack is ready to download." in page
    download = reverse("job_download", args=[job.pk])
    assert f'href="{download}"' in page
    pack = auditor_client.get(download)
    assert pack["Content-Type"] == "application/zip"
    assert pack["Content-Disposition"] == f'attachment; filename="{job.result["file_name"]}"'
    with zipfile.ZipFile(io.BytesIO(pack.content)) as archive:
        assert "manifest.json" in archive.namelist()
    taken = AuditEvent.objects.get(action="job.result_downloaded")
    assert taken.actor_name == "auditor" and taken.agency_id == estate["vendor"].agency_id
    vendor_page = auditor_client.get(reverse("vendor_detail", args=[estate["vendor"].pk]))
    assert reverse("job_detail", args=[job.pk]) in vendor_page.content.decode()
    # A day later the file is gone; the page says so and the download is not found.
    Job.objects.filter(pk=job.pk).update(result_file=None)
    assert "no longer kept" in auditor_client.get(response.url).content.decode()
    assert auditor_client.get(download).status_code == 404


def test_one_contracts_pack(auditor_client, estate, tasks_run_on_commit):
    running = estate["running"]
    url = reverse("contract_evidence_pack", args=[running.pk])
    response = tasks_run_on_commit(lambda: auditor_client.post(url))
    job = Job.objects.get(kind=Job.Kind.EVIDENCE_PACK)
    assert job.subject["contract"] == running.pk and job.state == Job.State.SUCCEEDED
    assert "Evidence pack: contract ACME-2026" in auditor_client.get(response.url).content.decode()


def test_jobs_are_seen_only_with_their_kinds_permission(
    import_job, auditor_client, outsider_client, procurement_client, estate
):
    for client in (auditor_client, outsider_client):  # no manage_contracts here
        for name in ("job_detail", "job_status", "job_download"):
            assert client.get(reverse(name, args=[import_job.pk])).status_code == 404, name
    # Nothing to download from an import, even for its owner.
    assert procurement_client.get(reverse("job_download", args=[import_job.pk])).status_code == 404
    # Another agency's pack cannot be started.
    secret = reverse("vendor_evidence_pack", args=[estate["secret_vendor"].pk])
    assert auditor_client.post(secret).status_code == 404
    assert (
        procurement_client.post(
            reverse("vendor_evidence_pack", args=[estate["vendor"].pk])
        ).status_code
        == 404
    )
    assert not Job.objects.filter(kind=Job.Kind.EVIDENCE_PACK).exists()
