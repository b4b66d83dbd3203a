"""docker-compose.yml and .env.example stay honest: every variable they set is one the
settings read, the required ones are set, and the compose environment passes
`check --deploy`. (No Docker engine runs here, so this is what we can check.)"""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = {
    "SECRET_KEY",
    "SUNDOWN_ENCRYPTION_KEYS",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "ALLOWED_HOSTS",
    "CACHE_URL",
}


# Read by the process itself, not a setting an operator chooses.
NOT_OPERATOR_SETTINGS = {"DJANGO_SETTINGS_MODULE"}


def settings_variables() -> set[str]:
    names = set()
    for path in [*(ROOT / "config").glob("*.py"), *(ROOT / "deploy").glob("*.py")]:
        if path.name == "settings_test.py":
            continue
        text = path.read_text()
        names |= set(re.findall(r'env_(?:str|bool|int|list)\(\s*"([A-Z0-9_]+)"', text))
        names |= set(re.findall(r'os\.environ(?:\.get|\.setdefault)?\(\s*"([A-Z0-9_]+)"', text))
    return names


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def app_services(compose):
    return {name: svc for name, svc in compose["services"].items() if "build" in svc}


def worker_queues(service) -> set[str]:
    command = service["command"]
    return set(command[command.index("-Q") + 1].split(","))


def test_compose_has_the_reference_services(compose):
    assert set(compose["services"]) >= {"postgres", "redis", "migrate", "web", "worker", "beat"}
    assert set(app_services(compose)) == {"migrate", "web", "worker", "worker-directory", "beat"}
    assert "gunicorn" in compose["services"]["web"]["command"]
    for name in ("worker", "worker-directory"):
        assert compose["services"][name]["command"][:4] == ["celery", "-A", "config", "worker"]
    assert compose["services"]["beat"]["command"][:4] == ["celery", "-A", "config", "beat"]
    assert "migrate" in " ".join(compose["services"]["migrate"]["command"])


def test_every_long_running_service_has_a_health_check(compose):
    for name, svc in compose["services"].items():
        if name != "migrate":
            assert "healthcheck" in svc, name
        for dep, condition in (svc.get("depends_on") or {}).items():
            assert dep in compose["services"], (name, dep)
            assert condition["condition"] in {"service_healthy", "service_completed_successfully"}


def test_compose_sets_only_variables_the_settings_read(compose):
    known = settings_variables()
    assert known >= REQUIRED
    for name, svc in app_services(compose).items():
        env = set(svc["environment"])
        unknown = {v.removesuffix("_FILE") for v in env} - known
        assert not unknown, f"{name} sets variables no setting reads: {unknown}"
        assert env >= REQUIRED, f"{name} lacks {REQUIRED - env}"


def env_example_keys() -> set[str]:
    return {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }


def test_env_example_lists_only_variables_the_settings_read():
    keys = env_example_keys()
    assert keys <= settings_variables(), keys - settings_variables()
    assert keys >= REQUIRED


def test_every_setting_is_in_env_example():
    missing = settings_variables() - NOT_OPERATOR_SETTINGS - env_example_keys()
    assert not missing, f"add these to .env.example with a comment: {sorted(missing)}"


def test_two_workers_on_different_queues_cover_every_connector_kind(compose):
    from access.models import System

    worker, directory = (compose["services"][n] for n in ("worker", "worker-directory"))
    assert not worker_queues(worker) & worker_queues(directory)
    served = worker_queues(worker) | worker_queues(directory)
    assert "sundown" in worker_queues(worker)  # the sweep's queue, with nothing slow in it
    assert served >= {f"sundown.{kind}" for kind in System.Kind.values}


def _substitute(value: str) -> str:
    # ${NAME:?msg} / ${NAME:-default} / ${NAME} as compose would, with test values.
    def repl(match):
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if op == ":-":
            return arg
        return {
            "SECRET_KEY": "k" * 20 + "-compose-check-" + "z" * 30,
            "SUNDOWN_ENCRYPTION_KEYS": "dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdC0=",
            "SUNDOWN_HOST": "sundown.agency.example",
        }.get(name, "value")

    return re.sub(r"\$\{([A-Z0-9_]+)(?:(:\?|:-)([^}]*))?\}", repl, str(value))


def _check_deploy(settings_env: dict, home) -> None:
    # Only the given environment: the test process's own settings must not leak in.
    env = {k: os.environ[k] for k in ("PATH", "LANG") if k in os.environ}
    env.update(settings_env, HOME=str(home), DJANGO_SETTINGS_MODULE="config.settings")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_compose_environment_passes_check_deploy(compose, tmp_path):
    web = compose["services"]["web"]["environment"]
    _check_deploy({k: _substitute(v) for k, v in web.items()}, tmp_path)


def test_minimal_production_environment_passes_check_deploy(tmp_path):
    _check_deploy(
        {
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "SUNDOWN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "ALLOWED_HOSTS": "sundown.agency.example",
            "CACHE_URL": "redis://127.0.0.1:6379/1",
            "SUNDOWN_VAR_DIR": str(tmp_path),
        },
        tmp_path,
    )


def test_production_without_a_shared_cache_refuses_to_start(tmp_path):
    # Issue 10: throttles and the failed-sign-in budget defaulted to per-process memory,
    # so each gunicorn worker gave an attacker a fresh budget. Without DEBUG a missing
    # CACHE_URL is now an error at start, not a silent per-process default.
    env = {k: os.environ[k] for k in ("PATH", "LANG") if k in os.environ}
    env.update(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        SUNDOWN_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="sundown.agency.example",
        SUNDOWN_VAR_DIR=str(tmp_path),
        HOME=str(tmp_path),
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "CACHE_URL is required when DEBUG is off" in result.stderr


def test_grafana_dashboard_charts_only_metrics_sundown_exports():
    import json

    from ops import metrics

    exported = {
        "sundown_credentials",
        "sundown_sweep_age_seconds",
        "sundown_sweep_stale_threshold_seconds",
        "sundown_incidents_open",
        "sundown_audit_checkpoint_age_seconds",
        "sundown_reconciliation_age_seconds",
        "sundown_findings_open",
    }
    for value in vars(metrics).values():
        name = getattr(value, "_name", "")
        if isinstance(name, str) and name.startswith("sundown_"):
            exported.add(name)
    dashboard = json.loads((ROOT / "deploy" / "grafana-dashboard.json").read_text())
    used = set()
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            used |= set(re.findall(r"\bsundown_[a-z_]+", target["expr"]))
    base = {re.sub(r"_(bucket|count|sum|total)$", "", name) for name in used}
    exported_base = {re.sub(r"_total$", "", name) for name in exported}
    assert used and base <= exported_base, base - exported_base
