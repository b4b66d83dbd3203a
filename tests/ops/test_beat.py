"""Beat through real processes: a fresh checkout's `worker -B` sweeps, a beat that cannot
start stops its process with a failure, and a killed beat is noticed and alerted once."""

import datetime as dt
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.utils import timezone

from access.models import Credential
from tests.factories import ContractFactory, CredentialFactory
from tests.revocation.helpers import ROOT, session_broker, wait_for, worker_env

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


def test_fresh_checkout_worker_with_embedded_beat_sweeps(agency, tmp_path):
    """`celery -A config worker -B` exactly as the README says: no --schedule, no var/."""
    credential = _ended_credential(agency)
    var_dir = tmp_path / "fresh-checkout" / "var"  # neither folder exists
    broker, queue = session_broker()
    env = worker_env(broker_url=broker, queue=queue, var_dir=str(var_dir))
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        proc = _run(
            ["worker", "-B", "--loglevel=WARNING", "--concurrency=1", "-Q", queue], env, log
        )
        try:
            wait_for(
                lambda: Credential.objects.get(pk=credential.pk).status != "active",
                timeout=60,
                message=lambda: log_path.read_text(errors="replace"),
            )
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
