"""Long operations as a person runs them, in Chromium, done by a real Celery worker
(subprocess, Redis, the test database): a clerk's CSV import and an auditor's evidence
pack start from their forms, the job's page shows a native <progress> while it waits and
runs, its polite status line changes once per state (never per poll), and then the
import report or the download. axe-core checks each state at 1280 and 375 px."""

import io
import zipfile

import pytest
from django.conf import settings
from django.utils import timezone

from audit.models import AuditEvent
from audit.signing import signing_key
from jobs.models import Job
from tests.e2e.test_accessibility import AXE, WIDTHS, _problems
from tests.e2e.test_dashboard_e2e import Watch, _no_horizontal_overflow, _persona
from tests.factories import AgencyFactory, ContractFactory, VendorFactory
from tests.revocation.helpers import Worker, publishing_to_test_broker
from vendors.models import Contract

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
HEADER = "vendor,reference,title,start_date,end_date,grace_days,procurement_contact_email"
# Every text the status line takes and every (value, max) the bar shows, as they happen.
RECORD = """() => {
    window.sdAnnounced = [];
    window.sdBars = [];
    const state = document.getElementById('job-state');
    new MutationObserver(() => window.sdAnnounced.push(state.textContent.trim()))
        .observe(state, {childList: true, characterData: true, subtree: true});
    new MutationObserver(() => {
        const bar = document.getElementById('job-progress');
        if (bar && bar.hasAttribute('value')) window.sdBars.push([bar.value, bar.max]);
    }).observe(document.querySelector('main'), {childList: true, subtree: true});
}"""


@pytest.fixture
def world():
    health = AgencyFactory(name="Federal Ministry of Health", slug="health")
    clerk = _persona("clerk", health, "procurement")
    auditor = _persona("auditor", health, "auditor")
    acme = VendorFactory(agency=health, name="Acme Data Services", registration_number="HRB-1")
    ContractFactory(vendor=acme, reference="ACME-2026", title="Data processing")
    return {"clerk": clerk, "auditor": auditor, "acme": acme}


def _axe_both_widths(page, where: str) -> list[str]:
    problems = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        problems += [f"{where} {width}px: {p}" for p in _problems(page)]
        if not _no_horizontal_overflow(page):
            problems.append(f"{where} {width}px: the page scrolls sideways")
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})
    return problems


def _finished(page, timeout=90_000):
    ended = "#job-panel[data-state=succeeded], #job-panel[data-state=failed]"
    page.wait_for_selector(ended, timeout=timeout)


def test_import_and_evidence_pack_run_on_a_worker(
    live_server, browser, signed_in_page, world, screenshots_dir, tmp_path
):
    base = live_server.url
    problems: list[str] = []
    with publishing_to_test_broker():
        clerk = signed_in_page(world["clerk"], verified=False)
        clerk.context.add_init_script(script=AXE.read_text())
        watch = Watch(clerk, base)

        # No worker yet: the job waits, and its page says so with an indeterminate bar.
        start = timezone.now().date()
        rows = "\n".join(
            f"HRB-1,IMP-{i:04d},Bulk,{start},{start.replace(year=start.year + 1)},0,"
            for i in range(2000)
        )
        good = tmp_path / "contracts-2026.csv"
        good.write_text(f"{HEADER}\n{rows}\n")
        clerk.goto(f"{base}/contracts/import/")
        clerk.set_input_files("#id_file", str(good))
        clerk.click("button:has-text('Import')")
        clerk.wait_for_url(f"{base}/jobs/*/")
        assert "Queued" in clerk.locator("#job-state").inner_text()
        assert clerk.locator("#job-progress").get_attribute("value") is None
        assert "2,000 to go" in clerk.locator("[data-testid=job-progress-count]").inner_text()
        clerk.screenshot(path=str(screenshots_dir / "job-import-queued.png"), full_page=True)
        problems += _axe_both_widths(clerk, "import queued")
        clerk.evaluate(RECORD)

        # The worker signs checkpoints (an evidence pack needs one) with this run's key.
        signing_key()
        key = {"SUNDOWN_AUDIT_SIGNING_KEY_FILE": settings.SUNDOWN_AUDIT_SIGNING_KEY_FILE}
        with Worker(concurrency=1, env=key) as worker:
            _finished(clerk)
            announced = clerk.evaluate("window.sdAnnounced")
            bars = clerk.evaluate("window.sdBars")
            assert announced[-1] == "Finished: 2,000 contracts imported.", (announced, worker.log())
            # Once per state: polls that found nothing new said nothing.
            assert len(announced) == len(set(announced)) <= 2, announced
            assert set(announced) <= {
                "Running: a worker is checking every row.",
                "Finished: 2,000 contracts imported.",
            }
            assert all(m == 2000 for _, m in bars) and bars == sorted(bars), bars
            assert (
                "Imported 2,000 contracts" in clerk.locator("[data-testid=job-result]").inner_text()
            )
            assert Contract.objects.filter(reference__startswith="IMP-").count() == 2000
            clerk.screenshot(path=str(screenshots_dir / "job-import-done.png"), full_page=True)
            problems += _axe_both_widths(clerk, "import finished")

            # A bad file: every problem of every row, in plain words.
            bad = tmp_path / "bad.csv"
            bad.write_text(f"{HEADER}\nHRB-404,IMP-X,x,01/01/2026,,x,\n")
            clerk.goto(f"{base}/contracts/import/")
            clerk.set_input_files("#id_file", str(bad))
            clerk.click("button:has-text('Import')")
            clerk.wait_for_url(f"{base}/jobs/*/")
            _finished(clerk)
            assert (
                "Failed. Nothing was imported: 1 bad row."
                in clerk.locator("#job-state").inner_text()
            )
            errors = clerk.locator("[data-testid=import-errors]").inner_text()
            assert "__all__" not in errors
            assert (
                "start_date: '01/01/2026' is not a date" in errors and "grace_days: 'x'" in errors
            )
            clerk.set_viewport_size({"width": 375, "height": 900})
            clerk.screenshot(
                path=str(screenshots_dir / "job-import-failed-narrow.png"), full_page=True
            )
            problems += _axe_both_widths(clerk, "import failed")

            # The auditor's evidence pack: a button on the vendor's page, then the download.
            auditor = signed_in_page(world["auditor"], verified=False)
            auditor.context.add_init_script(script=AXE.read_text())
            auditor.goto(f"{base}/vendors/{world['acme'].pk}/")
            auditor.click("button:has-text('Build the evidence pack of the whole vendor')")
            auditor.wait_for_url(f"{base}/jobs/*/")
            _finished(auditor)
            assert (
                "Finished: the evidence pack is ready" in auditor.locator("#job-state").inner_text()
            )
            with auditor.expect_download() as download:
                auditor.click("[data-testid=job-download]")
            path = tmp_path / download.value.suggested_filename
            download.value.save_as(path)
            with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as pack:
                assert {"manifest.json", "events.jsonl", "checkpoint.txt"} <= set(pack.namelist())
            auditor.screenshot(path=str(screenshots_dir / "job-evidence-done.png"), full_page=True)
            problems += _axe_both_widths(auditor, "evidence pack finished")

    for job in Job.objects.all():
        assert job.payload is None and job.worker, job
        events = AuditEvent.objects.filter(target_type="jobs.job", target_id=str(job.pk))
        assert {"job.started", f"job.{job.state}"} <= set(events.values_list("action", flat=True))
    assert AuditEvent.objects.filter(action="job.result_downloaded").count() == 1
    assert watch.foreign == [] and watch.csp == [], (watch.foreign, watch.csp)
    assert not problems, "\n".join(problems)
