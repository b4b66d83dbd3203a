"""Real receivers for the SIEM export tests, started once per session on loopback:
rsyslog with TLS (Debian's rsyslogd and its OpenSSL driver, installed by
bin/ensure-services) and an HTTP webhook receiver. The certificates come from a
throwaway CA made here with ``cryptography``.
"""

import datetime as dt
import http.server
import ipaddress
import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(directory: Path, label: str = "ca") -> tuple[Path, ec.EllipticCurvePrivateKey]:
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"Sundown test {label}"))
        .issuer_name(_name(f"Sundown test {label}"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    path = directory / f"{label}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, key


def make_server_cert(
    directory: Path, ca_path: Path, ca_key, names=("localhost",)
) -> tuple[Path, Path]:
    ca = x509.load_pem_x509_certificate(ca_path.read_bytes())
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(n) for n in names]
                + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.pem", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


@dataclass
class Rsyslog:
    """A private rsyslogd: TLS syslog in on ``port``, every message's raw text to ``output``."""

    port: int
    ca: Path
    output: Path
    directory: Path

    def mark(self) -> int:
        """Where the output ends now; read what arrives after with ``lines_after``."""
        return self.output.stat().st_size if self.output.exists() else 0

    def lines_after(self, mark: int, count: int, timeout: float = 10.0) -> list[str]:
        """Wait for ``count`` new messages after ``mark`` and return them."""
        deadline = time.monotonic() + timeout
        lines: list[str] = []
        while time.monotonic() < deadline:
            if self.output.exists():
                with self.output.open("rb") as fh:
                    fh.seek(mark)
                    lines = fh.read().decode("utf-8").splitlines()
                if len(lines) >= count:
                    return lines
            time.sleep(0.05)
        raise AssertionError(f"rsyslog received {len(lines)} of {count} messages")


RSYSLOG_CONF = """
global(workDirectory="{dir}"
       DefaultNetstreamDriver="ossl"
       DefaultNetstreamDriverCAFile="{ca}"
       DefaultNetstreamDriverCertFile="{cert}"
       DefaultNetstreamDriverKeyFile="{key}")
module(load="imtcp" StreamDriver.Name="ossl" StreamDriver.Mode="1"
       StreamDriver.AuthMode="anon")
input(type="imtcp" address="127.0.0.1" port="0" listenPortFileName="{dir}/port")
template(name="raw" type="string" string="%rawmsg%\\n")
action(type="omfile" file="{dir}/received.log" template="raw"
       asyncWriting="off" flushOnTXEnd="on")
"""


@pytest.fixture(scope="session")
def rsyslog(tmp_path_factory):
    if not os.access(RSYSLOGD, os.X_OK):
        pytest.fail("rsyslogd is missing: run bin/ensure-services")
    directory = tmp_path_factory.mktemp("rsyslog")
    ca, ca_key = make_ca(directory)
    cert, key = make_server_cert(directory, ca, ca_key)
    conf = directory / "rsyslog.conf"
    conf.write_text(RSYSLOG_CONF.format(dir=directory, ca=ca, cert=cert, key=key))
    # Port 0 and listenPortFileName: rsyslog binds a free port itself, no race.
    process = subprocess.Popen(
        [RSYSLOGD, "-n", "-f", str(conf), "-i", str(directory / "rsyslogd.pid")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    port_file = directory / "port"
    deadline = time.monotonic() + 15
    while not (port_file.exists() and port_file.read_text().strip()):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            output = process.stdout.read().decode() if process.stdout else ""
            pytest.fail(f"rsyslogd did not start: {output}")
        time.sleep(0.05)
    yield Rsyslog(
        port=int(port_file.read_text()),
        ca=ca,
        output=directory / "received.log",
        directory=directory,
    )
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@dataclass
class WebhookReceiver:
    """Records every POST; answers with the queued statuses first, then 200."""

    url: str
    requests: list = field(default_factory=list)
    statuses: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self, statuses=()):
        with self.lock:
            self.requests.clear()
            self.statuses[:] = list(statuses)


@pytest.fixture(scope="session")
def webhook_server():
    receiver = WebhookReceiver(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with receiver.lock:
                receiver.requests.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/siem"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def webhook(webhook_server):
    webhook_server.reset()
    return webhook_server
