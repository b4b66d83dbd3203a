"""Structured logs: one JSON object per line with the context fields, and no secret ever."""

import io
import json
import logging

import pytest
from django.conf import settings

from access.crypto import encrypt
from ops.logs import ContextFilter, JsonFormatter, RedactFilter, log_context, logging_config

SYSTEM_SECRET = "pg-Vendor-Passw0rd-!x7"
API_TOKEN = "sdn_9f8e7d6c5b4a39281706f5e4d3c2b1a0"


@pytest.fixture
def json_log():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def test_each_line_is_json_with_the_context_fields(json_log):
    log = logging.getLogger("sundown.test")
    with log_context(request_id="req-42", actor="officer", agency="health"):
        log.info("batch done", extra={"system": 7, "credential": 99})
    (line,) = json_log()
    assert line["message"] == "batch done"
    assert line["level"] == "INFO" and line["logger"] == "sundown.test"
    assert (line["request_id"], line["actor"], line["agency"]) == ("req-42", "officer", "health")
    assert (line["system"], line["credential"]) == (7, 99)
    assert "time" in line


def test_no_secret_reaches_the_log(json_log):
    encrypt(SYSTEM_SECRET)  # as when a system's secret is saved: this process now knows it
    log = logging.getLogger("sundown.test")
    secrets = [
        SYSTEM_SECRET,
        API_TOKEN,
        settings.SECRET_KEY,
        settings.SUNDOWN_ENCRYPTION_KEYS[0],
        "hunter2-db-pass",
        "abc.def-bearer",
    ]
    log.warning("connect failed for %s", f"postgres://vendor:{SYSTEM_SECRET}@db:5432/x")
    log.warning("request had Authorization: Token %s", API_TOKEN)
    log.warning("settings: %s / %s", settings.SECRET_KEY, settings.SUNDOWN_ENCRYPTION_KEYS[0])
    log.warning("config {'password': 'hunter2-db-pass'} and Bearer abc.def-bearer")
    log.warning("extra carries it", extra={"detail": f"secret={SYSTEM_SECRET}"})
    try:
        raise RuntimeError(f"target said: bad password {SYSTEM_SECRET}")
    except RuntimeError:
        log.exception("connector crashed")
    lines = json_log()
    assert len(lines) == 6
    text = "\n".join(json.dumps(line) for line in lines)
    for secret in secrets:
        assert secret not in text, secret
    assert "[redacted]" in lines[0]["message"]
    assert "RuntimeError" in lines[-1]["exc_info"]


def test_text_format_is_selectable_and_unknown_formats_are_refused():
    from django.core.exceptions import ImproperlyConfigured

    assert logging_config(log_format="text", level="INFO")["formatters"]["sundown"]["format"]
    assert logging_config(log_format="json", level="INFO")["formatters"]["sundown"]["()"]
    with pytest.raises(ImproperlyConfigured):
        logging_config(log_format="xml", level="INFO")


@pytest.mark.django_db
def test_a_request_logs_one_line_with_its_request_id_and_actor(client, json_log, auditor):
    client.force_login(auditor)
    response = client.get("/api/v1/agencies/", HTTP_X_REQUEST_ID="req-from-proxy-1")
    lines = [line for line in json_log() if line["logger"] == "sundown.request"]
    assert len(lines) == 1, lines
    assert lines[0]["request_id"] == "req-from-proxy-1" == response["X-Request-ID"]
    assert lines[0]["actor"] == "auditor"
    assert lines[0]["route"] == "/api/v1/agencies/"
    assert lines[0]["status"] == response.status_code
