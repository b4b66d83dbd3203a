"""The demo of `make run` shows a real revocation (issue 9 item 8).

On the embedded default that bin/run-dev uses (DEBUG, SQLite and the file broker under a
fresh SUNDOWN_VAR_DIR, no PostgreSQL or Redis), ``seed_demo`` and a real Celery worker
with beat end with the supplier portal's vendor account disabled in its htpasswd file,
verified by reading it back, and Apache's own ``htpasswd -v`` refusing the vendor's
password; the placeholder systems fail at once, saying "demo: host does not exist".
"""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from access.destinations import DEMO_HOST_LABEL
from vendors.management.commands.seed_demo import PORTAL_FILE, PORTAL_PASSWORD, PORTAL_USERS

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# What a newcomer may wait for after `make run` (the sweep runs every 5 s by default).
DEADLINE_SECONDS = 120


def _env(var: Path) -> dict[str, str]:
    # As bin/run-dev, nothing of this test run's PostgreSQL, Redis broker or settings (no
    # allowlist either: the placeholders' .invalid names need none).
    dropped = {
        "DATABASE_URL",
        "SECRET_KEY",
        "CELERY_BROKER_URL",
        "CELERY_TASK_DEFAULT_QUEUE",
        "CACHE_URL",
        "DJANGO_SETTINGS_MODULE",
        "SUNDOWN_LOCAL_TARGET_ROOTS",
        "SUNDOWN_TARGET_ALLOWLIST",
        "SUNDOWN_REVOCATION_RETRY_DELAYS",
        "SUNDOWN_SWEEP_SECONDS",
    }
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(
        DEBUG="1",
        SUNDOWN_VAR_DIR=str(var),
        DJANGO_SETTINGS_MODULE="config.settings",
        PROMETHEUS_MULTIPROC_DIR=str(var / "metrics-worker"),
        PYTHONUNBUFFERED="1",
    )
    return env


def _htpasswd_accepts(path: Path, user: str) -> bool:
    done = subprocess.run(
        ["htpasswd", "-v", "-b", str(path), user, PORTAL_PASSWORD],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode == 0


def _rows(db: Path, sql: str) -> list[tuple]:
    connection = sqlite3.connect(db, timeout=10)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def test_make_run_demo_revokes_the_portal_account_for_real(tmp_path):
    if shutil.which("htpasswd") is None:
        pytest.fail("htpasswd is not installed: `make test` installs apache2-utils")
    var = tmp_path / "var"
    for sub in ("queue", "processed", "control"):
        (var / "broker" / sub).mkdir(parents=True)
    env = _env(var)

    def manage(*args) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        return done.stdout

    manage("migrate", "--noinput", "-v0")
    out = manage("seed_demo")
    portal = var / "targets" / PORTAL_FILE
    vendor, other = PORTAL_USERS[0], PORTAL_USERS[1]
    assert f"demo target: {portal}" in out
    assert _htpasswd_accepts(portal, vendor) and _htpasswd_accepts(portal, other)
    staff_line = portal.read_text().splitlines()[1]

    db = var / "sundown.sqlite3"
    celery = str(Path(sys.executable).with_name("celery"))
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(
            [celery, "-A", "config", "worker", "--beat", "--loglevel=INFO", "--concurrency=2"]
            + ["--schedule", str(var / "celerybeat-schedule")],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        placeholders_failed = "SELECT count(*) FROM access_credential WHERE status = 'failed'"
        while time.monotonic() < deadline:
            status = _rows(
                db, f"SELECT status FROM access_credential WHERE external_id = '{vendor}'"
            )
            if status == [("revoked",)] and _rows(db, placeholders_failed)[0][0]:
                break
            assert worker.poll() is None, log_path.read_text(errors="replace")[-3000:]
            time.sleep(1)
        else:
            pytest.fail(
                f"{vendor} not revoked within {DEADLINE_SECONDS} s:\n"
                + log_path.read_text(errors="replace")[-3000:]
            )
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)

    # Verified on the target by the engine, and refused by Apache's own tool.
    [(after,)] = _rows(
        db,
        "SELECT e.after FROM audit_auditevent e JOIN access_credential c "
        "ON e.target_id = CAST(c.id AS TEXT) "
        f"WHERE e.action = 'credential.revoked' AND c.external_id = '{vendor}'",
    )
    event = json.loads(after)
    assert event["verified"] is True and event["connector"] == "htpasswd"
    assert not _htpasswd_accepts(portal, vendor)
    # Only that account: the vendor whose contract runs, and the agency's own, untouched.
    assert _htpasswd_accepts(portal, other)
    assert portal.read_text().splitlines()[1] == staff_line
    assert _rows(db, f"SELECT status FROM access_credential WHERE external_id = '{other}'") == [
        ("active",)
    ]
    # The placeholders failed at once (one attempt), with the reason they are labelled with.
    failed = _rows(db, "SELECT attempts, last_error FROM access_credential WHERE status = 'failed'")
    assert failed
    for attempts, error in failed:
        assert attempts == 1 and error.startswith(f"{DEMO_HOST_LABEL}: "), error
