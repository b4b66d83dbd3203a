"""Beat through real processes: a fresh checkout's `worker -B` sweeps, a beat that cannot
start stops its process with a failure, and a killed beat is noticed and alerted once."""

import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from access.models import Credential
from audit.checkpoints import checkpoint_create
from ops.models import Heartbeat, Incident
from tests.factories import ContractFactory, CredentialFactory
from tests.revocation.helpers import ROOT, Worker, session_broker, wait_for, worker_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
CELERY = str(Path(sys.executable).with_name("celery"))


def _ended_credential(agency):
    contract = ContractFactory(
        vendor__agency=agency, end_date=timezone.localdate() - dt.timedelta(days=2)
    )
    return CredentialFactory(vendor=contract.vendor, contracts=[contract])


def _run(args, env, log):
    return subprocess.Popen(
        [CELERY, "-A", "config", *args],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


@pytest.mark.parametrize("broker_kind", ["redis", "filesystem"])
def test_fresh_checkout_worker_with_embedded_beat_sweeps(agency, tmp_path, broker_kind):
    """`celery -A config worker -B` exactly as the README says: no --schedule, no var/,
    on Redis and on the default file-system broker (whose folders live under var/)."""
    credential = _ended_credential(agency)
    var_dir = tmp_path / "fresh-checkout" / "var"  # neither folder exists
    broker, queue = session_broker()
    if broker_kind == "filesystem":
        broker = "filesystem://"
    env = worker_env(broker_url=broker, queue=queue, var_dir=str(var_dir))
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        proc = _run(["worker", "-B", "--loglevel=WARNING", "--concurrency=1"], env, log)
        try:
            wait_for(
                lambda: Credential.objects.get(pk=credential.pk).status != "active",
                timeout=60,
                message=lambda: log_path.read_text(errors="replace"),
            )
            # The embedded beat's sweep stamped its heartbeat.
            wait_for(lambda: Heartbeat.objects.filter(name="sweep").exists(), timeout=30)
            assert proc.poll() is None
        finally:
            _stop(proc)
    assert (var_dir / "celerybeat-schedule").exists() or list(var_dir.glob("celerybeat-schedule*"))


@pytest.mark.parametrize("embedded", [True, False], ids=["worker -B", "beat"])
def test_a_beat_that_cannot_start_exits_non_zero(tmp_path, embedded):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("a file where the schedule's folder should be")
    schedule = str(not_a_folder / "celerybeat-schedule")
    broker, queue = session_broker()
    env = worker_env(
        broker_url=broker, queue=f"{queue}-{uuid.uuid4().hex[:6]}", var_dir=str(tmp_path)
    )
    args = (
        [
            "worker",
            "-B",
            "--schedule",
            schedule,
            "--concurrency=1",
            "-Q",
            env["CELERY_TASK_DEFAULT_QUEUE"],
        ]
        if embedded
        else ["beat", "--schedule", schedule]
    )
    log_path = tmp_path / "process.log"
    with open(log_path, "wb") as log:
        proc = _run([*args, "--loglevel=WARNING"], env, log)
        try:
            code = proc.wait(timeout=60)
        finally:
            _stop(proc)
    output = log_path.read_text(errors="replace")
    assert code != 0, output
    if embedded:
        assert "the embedded beat exited" in output


WATCH = {
    "SUNDOWN_SWEEP_STALE_SECONDS": 4,
    "SUNDOWN_WATCHDOG_SECONDS": 1,
    "SUNDOWN_SECURITY_ALERT_EMAILS": "soc@agency.example",
}


def _alerts(worker, word):
    return [m for m in worker.mails() if f"Subject: [Sundown] {word}" in m]


def _sweep_age():
    from ops.selectors import heartbeat_age

    return heartbeat_age().seconds


def test_killed_beat_fails_readyz_and_alerts_exactly_once_per_incident(settings, mailoutbox):
    """Beat and worker as separate processes, as in compose; the worker's watchdog alerts."""
    settings.SUNDOWN_SWEEP_STALE_SECONDS = WATCH["SUNDOWN_SWEEP_STALE_SECONDS"]
    client = Client()
    limit = WATCH["SUNDOWN_SWEEP_STALE_SECONDS"] + 2 * WATCH["SUNDOWN_WATCHDOG_SECONDS"]
    with Worker(env=WATCH) as worker:
        beat = Worker(beat_only=True, env=WATCH).start()
        try:
            wait_for(lambda: (_sweep_age() or 99) < 2, timeout=60, message=worker.log)
            checkpoint_create(ship=False)  # beat signs one a minute; the test cannot wait
            assert client.get("/readyz").status_code == 200, client.get("/readyz").json()

            beat.kill()
            killed = time.monotonic()
            wait_for(lambda: _alerts(worker, "ALERT"), timeout=limit + 10, message=worker.log)
            took = time.monotonic() - killed
            response = client.get("/readyz")
            assert response.status_code == 503
            assert response.json()["checks"]["sweep"]["ok"] is False
            time.sleep(4 * WATCH["SUNDOWN_WATCHDOG_SECONDS"])  # the watchdog keeps looking
            assert len(_alerts(worker, "ALERT")) == 1, worker.mails()
            assert "sweep has stopped" in _alerts(worker, "ALERT")[0]
            assert "soc@agency.example" in _alerts(worker, "ALERT")[0]
            assert mailoutbox == []  # /readyz saw the open incident and stayed quiet
            assert Incident.objects.filter(resolved_at__isnull=True).count() == 1
            # The worker logs through Sundown's LOGGING (context fields, redaction).
            assert "incident opened: sweep_stale" in worker.log()
            assert "[req=" in worker.log()
            # Within the configured time: the threshold, one watchdog period, and slack
            # for a loaded machine.
            assert took <= limit + 8, took

            beat = Worker(beat_only=True, env=WATCH).start()  # the operator restarts beat
            wait_for(lambda: _alerts(worker, "Recovered"), timeout=60, message=worker.log)
            wait_for(lambda: client.get("/readyz").status_code == 200, timeout=10)
            assert Incident.objects.filter(resolved_at__isnull=True).count() == 0

            beat.kill()  # a new incident: one new alert
            wait_for(
                lambda: len(_alerts(worker, "ALERT")) == 2, timeout=limit + 10, message=worker.log
            )
            assert Incident.objects.count() == 2
        finally:
            beat.stop()
