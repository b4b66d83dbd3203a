"""The embedded default (SQLite): migrations install the append-only triggers, the
demo data's chain verifies, and tampering is refused or detected."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sqlite_home(tmp_path_factory):
    var = tmp_path_factory.mktemp("var")
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SECRET_KEY"}}
    env.update(DEBUG="1", SUNDOWN_VAR_DIR=str(var), DJANGO_SETTINGS_MODULE="config.settings")

    def manage(*args, check=True):
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=check,
        )

    manage("migrate", "--noinput")
    manage("seed_demo")
    return var, manage


def test_demo_chain_verifies_on_sqlite(sqlite_home):
    _, manage = sqlite_home
    result = manage("audit_verify")
    assert "audit chain OK" in result.stdout


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_auditevent SET action = 'forged' WHERE seq = 1", "DELETE FROM audit_auditevent"],
)
def test_sqlite_refuses_changes(sqlite_home, statement):
    var, _ = sqlite_home
    db = sqlite3.connect(var / "sundown.sqlite3")
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute(statement)
        assert db.execute("SELECT action FROM audit_auditevent WHERE seq = 1").fetchone() != (
            "forged",
        )
    finally:
        db.close()


def test_sqlite_tampering_is_detected(sqlite_home):
    var, manage = sqlite_home
    db = sqlite3.connect(var / "sundown.sqlite3")
    try:
        # What someone with the database file can do: drop the trigger, then edit.
        db.execute("DROP TRIGGER audit_no_update")
        db.execute("UPDATE audit_auditevent SET actor_name = 'nobody' WHERE seq = 7")
        db.commit()
    finally:
        db.close()
    result = manage("audit_verify", check=False)
    assert result.returncode != 0
    assert "seq 7" in result.stderr


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_chainhead SET seq = 0",
        "UPDATE audit_chainhead SET hash = 'f'",
        "DELETE FROM audit_chainhead",
        "INSERT INTO audit_auditevent (seq, occurred_at, actor_type, actor_id, actor_name,"
        " action, target_type, target_id, target_repr, request_id, hash_version, prev_hash,"
        " hash) VALUES (1000000, '2026-01-01', 'system', '', 'x', 'forged', '', '', '', '', 1,"
        " 'x', 'y')",
        "UPDATE audit_verificationrun SET ok = 1",
        "DELETE FROM audit_verificationrun",
    ],
)
def test_sqlite_head_cannot_be_rewound_or_skipped(sqlite_home, statement):
    var, _ = sqlite_home
    db = sqlite3.connect(var / "sundown.sqlite3")
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only|head"):
            db.execute(statement)
    finally:
        db.close()
