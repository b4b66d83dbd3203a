"""The audit chain's settings: the checkpoint signing key, checkpoints and where they
are shipped, evidence-pack policy hours, and the SIEM export. Read from the environment
like the rest (see .env.example); config.settings takes every name from here.
"""

import os
from pathlib import Path

from config.env import env_bool, env_int, env_list, env_str

# Same derivation as config.settings (which cannot be imported from here: it imports us).
_VAR_DIR = Path(env_str("SUNDOWN_VAR_DIR", str(Path(__file__).resolve().parent.parent / "var")))
_DEBUG = env_bool("DEBUG", False)

# Ed25519 key that signs audit checkpoints: a file outside the database, made by
# `python manage.py audit_keygen`. Development (DEBUG) makes one under var/ on first use.
# (A path, not the `NAME_FILE` secret convention: the key never passes through settings.)
SUNDOWN_AUDIT_SIGNING_KEY_FILE = os.environ.get("SUNDOWN_AUDIT_SIGNING_KEY_FILE") or str(
    _VAR_DIR / "audit-signing.key"
)
SUNDOWN_AUDIT_SIGNING_KEY_AUTOCREATE = env_bool("SUNDOWN_AUDIT_SIGNING_KEY_AUTOCREATE", _DEBUG)
# The checkpoints' origin line and the key's name (a schema-less URL, no spaces or '+').
SUNDOWN_AUDIT_ORIGIN = env_str("SUNDOWN_AUDIT_ORIGIN", "sundown.invalid/audit")
SUNDOWN_CHECKPOINT_SECONDS = env_int("SUNDOWN_CHECKPOINT_SECONDS", 60)
# Processes `audit_verify` recomputes the chain with (PostgreSQL; --workers overrides).
SUNDOWN_AUDIT_VERIFY_WORKERS = env_int("SUNDOWN_AUDIT_VERIFY_WORKERS", 1)
# /readyz fails when the newest checkpoint is older than this (ops.selectors).
SUNDOWN_CHECKPOINT_STALE_SECONDS = env_int(
    "SUNDOWN_CHECKPOINT_STALE_SECONDS", max(300, 5 * SUNDOWN_CHECKPOINT_SECONDS)
)
# Where checkpoints are shipped besides the database: `file:/path` (JSON lines), and
# whatever kinds audit.sinks has registered. Comma-separated; empty ships nowhere.
SUNDOWN_CHECKPOINT_SINKS = env_list(
    "SUNDOWN_CHECKPOINT_SINKS", [f"file:{_VAR_DIR / 'checkpoints' / 'checkpoints.jsonl'}"]
)
# Evidence packs measure time to revoke against the agency's policy: hours from the
# revocation request to verified revocation (a kill switch has the shorter one).
SUNDOWN_REVOCATION_POLICY_HOURS = env_int("SUNDOWN_REVOCATION_POLICY_HOURS", 24)
SUNDOWN_KILL_SWITCH_POLICY_HOURS = env_int("SUNDOWN_KILL_SWITCH_POLICY_HOURS", 1)

# SIEM export (audit.sinks, audit.shipping): every audit event goes to each configured
# sink as an OCSF JSON line, in seq order, from that sink's own persistent cursor.
# Secrets (the webhook key) come from the environment or a *_FILE mount only.
SUNDOWN_SIEM_SINKS: dict[str, dict] = {}
if _syslog_host := env_str("SUNDOWN_SIEM_SYSLOG_HOST", ""):
    SUNDOWN_SIEM_SINKS["syslog"] = {
        "kind": "syslog",
        "host": _syslog_host,
        "port": env_int("SUNDOWN_SIEM_SYSLOG_PORT", 6514),
        # CA bundle that signed the server's certificate (default: the system's).
        "cafile": env_str("SUNDOWN_SIEM_SYSLOG_CAFILE", "") or None,
        # Client certificate and key, when the server asks for mutual TLS.
        "certfile": env_str("SUNDOWN_SIEM_SYSLOG_CERTFILE", "") or None,
        "keyfile": env_str("SUNDOWN_SIEM_SYSLOG_KEYFILE", "") or None,
    }
if _webhook_url := env_str("SUNDOWN_SIEM_WEBHOOK_URL", ""):
    SUNDOWN_SIEM_SINKS["webhook"] = {
        "kind": "webhook",
        "url": _webhook_url,
        "secret": env_str("SUNDOWN_SIEM_WEBHOOK_SECRET"),
        "retries": env_int("SUNDOWN_SIEM_WEBHOOK_RETRIES", 4),
        "backoff": float(env_int("SUNDOWN_SIEM_WEBHOOK_BACKOFF_SECONDS", 1)),
    }
if _siem_file := env_str("SUNDOWN_SIEM_FILE", ""):
    SUNDOWN_SIEM_SINKS["file"] = {"kind": "file", "path": _siem_file}
SUNDOWN_SIEM_BATCH = env_int("SUNDOWN_SIEM_BATCH", 500)
SUNDOWN_SIEM_LEASE_SECONDS = env_int("SUNDOWN_SIEM_LEASE_SECONDS", 300)
