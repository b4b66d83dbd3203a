"""Shipping the trail: per-sink cursors, nothing lost or repeated across failures and
restarts, to a real rsyslog over TLS and a real webhook receiver."""

import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from audit.actor import Actor
from audit.models import AuditEvent, SinkCursor
from audit.services import audit_record_standalone
from audit.shipping import audit_ship, audit_ship_sink
from audit.sinks import FileSink, SinkError, SyslogTlsSink, WebhookSink
from audit.tasks import audit_ship_task
from tests.audit.siem_servers import make_ca, rsyslog, webhook, webhook_server  # noqa: F401


def _events(n, start=0):
    for i in range(start, start + n):
        audit_record_standalone(
            actor=Actor.system("test"), action="test.event", target=("x.y", i, f"item {i}")
        )


def _seqs(lines):
    return [json.loads(line)["metadata"]["sequence"] for line in lines]


class FlakySink:
    """Takes batches into ``taken`` but fails the calls listed in ``fail_on`` (1-based)."""

    def __init__(self, name="flaky", fail_on=()):
        self.name = name
        self.fail_on = set(fail_on)
        self.calls = 0
        self.taken = []

    def send(self, lines, *, topic="audit"):
        self.calls += 1
        if self.calls in self.fail_on:
            raise SinkError("receiver down")
        self.taken.extend(lines)


def test_cursor_moves_only_after_the_sink_took_a_batch(db):
    _events(25)
    sink = FlakySink(fail_on={2})
    result = audit_ship_sink(sink=sink, batch_size=10)
    assert (result.shipped, result.after_seq, result.error) == (10, 10, "receiver down")
    cursor = SinkCursor.objects.get(sink="flaky")
    assert (cursor.after_seq, cursor.failures, cursor.last_error) == (10, 1, "receiver down")
    assert cursor.lease_owner == ""  # released on failure
    # A new run (a restart: a new sink object, the same name) resumes at seq 11.
    again = FlakySink()
    result = audit_ship_sink(sink=again, batch_size=10)
    assert (result.shipped, result.after_seq, result.error) == (15, 25, "")
    assert _seqs(sink.taken + again.taken) == list(range(1, 26))
    assert SinkCursor.objects.get(sink="flaky").failures == 0
    # Nothing new: nothing sent.
    assert audit_ship_sink(sink=again, batch_size=10).shipped == 0
    assert again.calls == 2


def test_each_sink_has_its_own_cursor(db):
    _events(5)
    first, second = FlakySink("a"), FlakySink("b", fail_on={1})
    audit_ship_sink(sink=first)
    audit_ship_sink(sink=second)
    assert SinkCursor.objects.get(sink="a").after_seq == 5
    assert SinkCursor.objects.get(sink="b").after_seq == 0


def test_a_leased_cursor_is_left_to_its_holder(db):
    _events(3)
    SinkCursor.objects.create(sink="busy", lease_owner="other")
    SinkCursor.objects.filter(sink="busy").update(
        lease_expires_at=AuditEvent.objects.latest("seq").occurred_at.replace(year=2999)
    )
    sink = FlakySink("busy")
    result = audit_ship_sink(sink=sink)
    assert result.busy and sink.calls == 0
    # An expired lease (a killed shipper) is simply taken over.
    SinkCursor.objects.filter(sink="busy").update(
        lease_expires_at=AuditEvent.objects.latest("seq").occurred_at.replace(year=2000)
    )
    assert audit_ship_sink(sink=sink).shipped == 3


def test_ship_stops_at_a_gap_in_the_chain(db):
    _events(4)
    # Only a database superuser can do this (the triggers refuse everyone else).
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("DELETE FROM audit_auditevent WHERE seq = 3")
        cursor.execute("SET session_replication_role = origin")
    sink = FlakySink()
    result = audit_ship_sink(sink=sink)
    assert _seqs(sink.taken) == [1, 2] and result.after_seq == 2
    assert audit_ship_sink(sink=sink).shipped == 0  # and never skips past it


def test_syslog_shipping_to_rsyslog_is_complete_and_in_order(db, rsyslog):
    sink = SyslogTlsSink(
        name="rsyslog", host="127.0.0.1", port=rsyslog.port, cafile=str(rsyslog.ca)
    )
    _events(30)
    mark = rsyslog.mark()
    assert audit_ship_sink(sink=sink, batch_size=8).shipped == 30
    _events(7, start=30)
    # A restarted shipper: fresh sink object, cursor from the database.
    restarted = SyslogTlsSink(
        name="rsyslog", host="127.0.0.1", port=rsyslog.port, cafile=str(rsyslog.ca)
    )
    assert audit_ship_sink(sink=restarted, batch_size=8).shipped == 7
    lines = rsyslog.lines_after(mark, 37)
    bodies = [line.split(" - ", 1)[1] for line in lines]
    assert _seqs(bodies) == list(range(1, 38))  # none lost, none repeated
    event = json.loads(bodies[-1])
    assert event["class_uid"] == 3004 and event["metadata"]["event_code"] == "test.event"


def test_webhook_shipping_survives_an_outage(db, webhook):
    _events(12)
    webhook.reset(statuses=[503] * 3)  # down for more than one batch's retries
    sink = WebhookSink(name="hook", url=webhook.url, secret="k", retries=1, sleep=lambda _: None)
    result = audit_ship_sink(sink=sink, batch_size=5)
    assert result.error and result.shipped == 0
    result = audit_ship_sink(sink=sink, batch_size=5)
    assert (result.shipped, result.after_seq) == (12, 12)
    delivered = [b for _h, b in webhook.requests if b]
    lines = [line for body in delivered for line in body.decode().splitlines()]
    # The failed deliveries carried seq 1-5 and were sent again: the receiver stored
    # each event once, keyed by metadata.uid.
    unique = {json.loads(line)["metadata"]["uid"]: line for line in lines}
    assert sorted(_seqs(unique.values())) == list(range(1, 13))


def test_command_and_beat_task_ship_the_configured_sinks(db, settings, tmp_path):
    out = tmp_path / "siem.jsonl"
    settings.SUNDOWN_SIEM_SINKS = {"file": {"kind": "file", "path": str(out)}}
    _events(3)
    call_command("audit_ship")
    assert len(out.read_text().splitlines()) == 3
    _events(2)
    assert audit_ship_task() == 2
    assert _seqs(out.read_text().splitlines()) == [1, 2, 3, 4, 5]
    assert "audit-ship" in settings.CELERY_BEAT_SCHEDULE
    with pytest.raises(CommandError, match="No sink named"):
        call_command("audit_ship", "--sink", "nope")
    settings.SUNDOWN_SIEM_SINKS = {"file": {"kind": "file", "path": str(tmp_path)}}
    _events(1)
    with pytest.raises(CommandError, match="failed for file"):
        call_command("audit_ship")  # a directory is not a file: the failure is reported
    assert SinkCursor.objects.get(sink="file").after_seq == 5


def test_no_sinks_no_work(db, settings):
    settings.SUNDOWN_SIEM_SINKS = {}
    assert audit_ship() == []
    assert audit_ship_task() == 0


def test_file_sink_name_is_the_cursor(db, tmp_path):
    _events(2)
    audit_ship_sink(sink=FileSink(name="archive", path=tmp_path / "a.jsonl"))
    assert SinkCursor.objects.get(sink="archive").after_seq == 2


def test_sinks_come_from_the_environment_and_the_key_from_a_file(tmp_path):
    import os
    import subprocess
    import sys

    ca, _ = make_ca(tmp_path)
    key_file = tmp_path / "hook.key"
    key_file.write_text("from-a-secret-mount\n")
    env = {k: os.environ[k] for k in ("PATH", "LANG") if k in os.environ}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="1",
        SUNDOWN_VAR_DIR=str(tmp_path),
        SUNDOWN_SIEM_SYSLOG_HOST="siem.agency.example",
        SUNDOWN_SIEM_SYSLOG_CAFILE=str(ca),
        SUNDOWN_SIEM_WEBHOOK_URL="https://hooks.agency.example/sundown",
        SUNDOWN_SIEM_WEBHOOK_SECRET_FILE=str(key_file),
    )
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        "from audit.sinks import configured_sinks; s = configured_sinks(); "
        "print(json.dumps([sorted(s), s['syslog'].port, s['webhook'].secret.decode(), "
        "settings.SUNDOWN_SIEM_SINKS['syslog']['cafile']]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == [
        ["syslog", "webhook"],
        6514,
        "from-a-secret-mount",
        str(ca),
    ]


def test_the_webhook_key_never_reaches_the_database(db, webhook):
    _events(3)
    secret = "very-secret-hook-key-4711"
    sink = WebhookSink(name="hook", url=webhook.url, secret=secret, sleep=lambda _: None)
    assert audit_ship_sink(sink=sink).shipped == 3
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(c)::text FROM audit_sinkcursor c")
        rows = [r[0] for r in cursor.fetchall()]
        cursor.execute(
            "SELECT count(*) FROM audit_auditevent e WHERE row_to_json(e)::text LIKE %s",
            [f"%{secret}%"],
        )
        assert cursor.fetchone()[0] == 0
    assert rows and not any(secret in row for row in rows)
