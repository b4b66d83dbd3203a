"""The sinks against real receivers: rsyslog over TLS, an HTTP webhook, a file."""

import re

import pytest
from django.core.exceptions import ImproperlyConfigured

from audit.sinks import (
    DELIVERY_HEADER,
    FileSink,
    SinkError,
    SyslogTlsSink,
    WebhookSink,
    build_sink,
    syslog_message,
    webhook_signature_valid,
)
from tests.audit.siem_servers import make_ca, rsyslog, webhook, webhook_server  # noqa: F401

# RFC 5424 6: <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG]
RFC5424 = re.compile(
    r"^<(?P<pri>\d{1,3})>1 (?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (?P<host>\S{1,255}) "
    r"(?P<app>\S{1,48}) (?P<procid>\S{1,128}) (?P<msgid>\S{1,32}) (?P<sd>-) (?P<msg>.*)$"
)


def test_syslog_message_is_rfc5424():
    message = syslog_message('{"a":1}', msgid="audit", hostname="app host.example").decode()
    match = RFC5424.match(message)
    assert match, message
    assert match["pri"] == str(13 * 8 + 6)  # log audit, informational
    assert match["host"] == "apphost.example"  # no spaces in header fields
    assert match["msg"] == '{"a":1}'
    # Non-ASCII text is marked as UTF-8 with a BOM (RFC 5424 6.4).
    assert syslog_message("Müller", msgid="audit", hostname="h").endswith("\ufeffMüller".encode())


def test_syslog_over_tls_reaches_rsyslog(rsyslog):
    sink = SyslogTlsSink(host="127.0.0.1", port=rsyslog.port, cafile=str(rsyslog.ca))
    mark = rsyslog.mark()
    lines = [f'{{"n":{i},"text":"one line"}}' for i in range(50)]
    sink.send(lines, topic="audit")
    received = rsyslog.lines_after(mark, len(lines))
    parsed = [RFC5424.match(line) for line in received]
    assert all(parsed), received[:3]
    assert [m["msg"] for m in parsed] == lines
    assert {m["msgid"] for m in parsed} == {"audit"}
    assert {m["app"] for m in parsed} == {"sundown"}


def test_syslog_refuses_a_server_it_cannot_verify(rsyslog, tmp_path):
    other_ca, _ = make_ca(tmp_path, "other")
    sink = SyslogTlsSink(host="127.0.0.1", port=rsyslog.port, cafile=str(other_ca))
    mark = rsyslog.mark()
    with pytest.raises(SinkError, match="certificate"):
        sink.send(['{"secret":"must not arrive"}'])
    # The name must match too: the certificate is for localhost and 127.0.0.1 only.
    wrong_name = SyslogTlsSink(
        host="127.0.0.1", port=rsyslog.port, cafile=str(rsyslog.ca), server_name="siem.example"
    )
    with pytest.raises(SinkError, match="certificate"):
        wrong_name.send(['{"secret":"must not arrive"}'])
    assert rsyslog.mark() == mark


def test_syslog_unreachable_is_an_error():
    sink = SyslogTlsSink(host="127.0.0.1", port=1, timeout=2)
    with pytest.raises(SinkError):
        sink.send(["x"])


def test_a_sink_message_is_one_line(tmp_path):
    with pytest.raises(ValueError):
        FileSink(path=tmp_path / "out").send(["two\nlines"])


def test_webhook_signs_each_batch(webhook):
    sink = WebhookSink(url=webhook.url, secret="hook-secret")
    sink.send(['{"a":1}', '{"b":2}'], topic="checkpoint")
    [(headers, body)] = webhook.requests
    assert body == b'{"a":1}\n{"b":2}\n'
    assert headers["Content-Type"] == "application/x-ndjson"
    assert headers["X-Sundown-Topic"] == "checkpoint"
    assert webhook_signature_valid(b"hook-secret", headers, body)
    assert not webhook_signature_valid(b"other-secret", headers, body)
    assert not webhook_signature_valid(b"hook-secret", headers, body + b"x")
    # An old request replayed later is refused even with its valid signature.
    stamp = int(headers["X-Sundown-Timestamp"])
    assert not webhook_signature_valid(b"hook-secret", headers, body, now=stamp + 3600)


def test_webhook_retries_with_backoff_then_delivers(webhook):
    webhook.reset(statuses=[503, 500, 429])
    delays = []
    sink = WebhookSink(url=webhook.url, secret="s", retries=4, backoff=0.5, sleep=delays.append)
    sink.send(['{"a":1}'])
    assert len(webhook.requests) == 4
    assert len({h[DELIVERY_HEADER] for h, _ in webhook.requests}) == 1  # one delivery id
    assert all(webhook_signature_valid(b"s", h, b) for h, b in webhook.requests)
    assert len(delays) == 3
    assert 0.4 <= delays[0] <= 0.6 and 0.8 <= delays[1] <= 1.2 and 1.6 <= delays[2] <= 2.4


def test_webhook_gives_up_after_its_retries(webhook):
    webhook.reset(statuses=[503] * 10)
    sink = WebhookSink(url=webhook.url, secret="s", retries=2, sleep=lambda _: None)
    with pytest.raises(SinkError) as exc:
        sink.send(['{"a":1}'])
    assert not exc.value.permanent
    assert len(webhook.requests) == 3


def test_webhook_refusal_is_permanent_and_not_retried(webhook):
    webhook.reset(statuses=[401])
    sink = WebhookSink(url=webhook.url, secret="s", retries=3, sleep=lambda _: None)
    with pytest.raises(SinkError) as exc:
        sink.send(['{"a":1}'])
    assert exc.value.permanent
    assert len(webhook.requests) == 1


def test_webhook_connection_errors_are_retried():
    delays = []
    sink = WebhookSink(url="http://127.0.0.1:1/x", secret="s", retries=2, sleep=delays.append)
    with pytest.raises(SinkError, match="3 tries"):
        sink.send(["x"])
    assert len(delays) == 2


def test_webhook_configuration_is_checked():
    with pytest.raises(ImproperlyConfigured):
        WebhookSink(url="https://siem.example/x", secret="")
    with pytest.raises(ImproperlyConfigured):
        WebhookSink(url="http://siem.example/x", secret="s")  # cleartext off-host
    with pytest.raises(ImproperlyConfigured):
        build_sink("x", {"kind": "carrier-pigeon"})
    with pytest.raises(ImproperlyConfigured, match="CA"):
        SyslogTlsSink(host="siem.example", cafile="/nonexistent/ca.pem")


def test_file_sink_appends(tmp_path):
    sink = build_sink("file", {"path": tmp_path / "siem" / "out.jsonl"})
    sink.send(["a", "b"])
    sink.send(["c"])
    assert (tmp_path / "siem" / "out.jsonl").read_text() == "a\nb\nc\n"
