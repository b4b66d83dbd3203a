"""Real local target servers for the connector tests: a private OpenSSH sshd, an
htpasswd file, and nginx serving a page behind that file (Basic authentication), each
on a free loopback port with a throwaway directory. servers.py has the rest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import httpx2
import pytest

from tests.revocation.connectors.servers import (
    LOOPBACK,
    _stop,
    _wait_port,
    free_port,
    make_system,
    unique,
)

# sshd ----------------------------------------------------------------------
SSHD_CONF = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {dir}/host_ed25519
PidFile {dir}/sshd.pid
AuthorizedKeysFile {dir}/admin_keys/%u .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
ExposeAuthInfo yes
RevokedKeys {dir}/revoked.krl
MaxStartups 50
LogLevel VERBOSE
"""


class SSHKey:
    """A throwaway ed25519 key pair made by ssh-keygen."""

    def __init__(self, directory: Path, name: str):
        self.path = directory / name
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(self.path)],
            check=True,
        )
        self.private = self.path.read_text()
        self.public = self.path.with_suffix(".pub").read_text().strip()
        out = subprocess.run(
            ["ssh-keygen", "-l", "-f", str(self.path)], capture_output=True, text=True, check=True
        ).stdout
        self.fingerprint = out.split()[1]


class Sshd:
    """A private OpenSSH sshd (run as root) and a throwaway local account it serves.

    Sundown logs in as root with its own key (``admin_keys/root``, not root's real
    authorized_keys); vendors' keys go in the account's ``~/.ssh/authorized_keys``.
    """

    def __init__(self):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="sundown-sshd-"))
        self.dir.chmod(0o755)
        self.account = f"sdv{os.getpid()}{uuid.uuid4().hex[:6]}"
        self.keys: dict[str, SSHKey] = {}

    @property
    def authorized_keys(self) -> Path:
        return self.dir / "home" / ".ssh" / "authorized_keys"

    @property
    def krl(self) -> Path:
        return self.dir / "revoked.krl"

    def start(self) -> Sshd:
        if os.geteuid() != 0 or not Path("/usr/sbin/sshd").exists():
            pytest.fail("the SSH tests run as root with openssh-server (bin/ensure-services)")
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.dir / "host_ed25519")],
            check=True,
        )
        self.host_key = (self.dir / "host_ed25519.pub").read_text().split()[:2]
        self.admin = SSHKey(self.dir, "sundown")
        (self.dir / "admin_keys").mkdir()
        (self.dir / "admin_keys" / "root").write_text(self.admin.public + "\n")
        subprocess.run(["ssh-keygen", "-q", "-k", "-f", str(self.krl)], check=True)
        home = self.dir / "home"
        subprocess.run(
            ["useradd", "-M", "-d", str(home), "-s", "/bin/sh", "-p", "*", self.account],
            check=True,
        )
        (home / ".ssh").mkdir(parents=True)
        self.authorized_keys.write_text("# vendors\n")
        shutil.chown(home, self.account)
        # As on a real host: the account owns its file (sshd reads it as the account).
        shutil.chown(self.authorized_keys, self.account)
        self.authorized_keys.chmod(0o600)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        (self.dir / "sshd_config").write_text(SSHD_CONF.format(port=self.port, dir=self.dir))
        self.log = self.dir / "sshd.log"
        self.proc = subprocess.Popen(
            ["/usr/sbin/sshd", "-D", "-e", "-f", str(self.dir / "sshd_config")],
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        _wait_port(self.port, self.proc, "sshd", self.log)
        return self

    def stop(self) -> None:
        _stop(self.proc)
        subprocess.run(["pkill", "-KILL", "-u", self.account], check=False)
        subprocess.run(["userdel", self.account], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def add_key(self, authorize: bool = True, options: str = "") -> SSHKey:
        key = SSHKey(self.dir, unique("vendor"))
        self.keys[key.fingerprint] = key
        if authorize:
            with self.authorized_keys.open("a") as f:
                f.write(f"{options} {key.public}\n" if options else key.public + "\n")
        return key

    def config(self, **extra) -> dict:
        return {
            "host": LOOPBACK,
            "port": self.port,
            "user": "root",
            "account": self.account,
            "host_key": " ".join(self.host_key),
            "krl_path": str(self.krl),
            **extra,
        }

    def connect(self, fingerprint: str):
        """A vendor's SSH client logged in with the key of ``fingerprint``."""
        import paramiko

        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # our own test server
        client.connect(
            LOOPBACK,
            port=self.port,
            username=self.account,
            pkey=paramiko.Ed25519Key(filename=str(self.keys[fingerprint].path)),
            timeout=5,
            banner_timeout=5,
            auth_timeout=5,
            allow_agent=False,
            look_for_keys=False,
        )
        return client

    def can_login(self, fingerprint: str) -> bool:
        import paramiko

        try:
            client = self.connect(fingerprint)
        except paramiko.AuthenticationException:
            return False
        try:
            _, out, _ = client.exec_command("id -un", timeout=5)
            return out.read().decode().strip() == self.account
        finally:
            client.close()


@pytest.fixture(scope="session")
def sshd():
    server = Sshd().start()
    yield server
    server.stop()


@pytest.fixture
def ssh_system(agency, sshd):
    def make(secret: str | None = None, **config):
        return make_system(
            agency,
            "ssh",
            sshd.config(**config),
            secret=sshd.admin.private if secret is None else secret,
        )

    return make


# htpasswd ------------------------------------------------------------------
class HtpasswdFile:
    """An htpasswd file below this run's SUNDOWN_LOCAL_TARGET_ROOTS, owned by another
    user (as a web server's file would be), written and checked with Apache's own
    ``htpasswd`` tool (Debian apache2-utils; `make test` installs it)."""

    OWNER = (65534, 65534)  # nobody:nogroup: not the worker's uid, so keeping it is tested
    MODE = 0o640

    def __init__(self):
        if shutil.which("htpasswd") is None:
            pytest.fail("htpasswd is not installed: `make test` installs apache2-utils")
        from django.conf import settings

        root = Path(settings.SUNDOWN_LOCAL_TARGET_ROOTS[0])
        root.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix="htpasswd-", dir=root))
        self.path = self.dir / "users.htpasswd"
        self.htpasswd("-c", "-b", "-B", "-C", "4", str(self.path), "ops", "ops-pass")
        with self.path.open("ab") as f:
            f.write(b"# partners below\r\n\r\nbuild:{SHA}M2fSgM+LIEfZs00exDBDG15yHwc=\r\n")
        os.chown(self.path, *self.OWNER)
        self.path.chmod(self.MODE)

    @staticmethod
    def htpasswd(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["htpasswd", *args], capture_output=True, text=True, check=False)

    def add_user(self, password: str = "vendor-pass-1", name: str | None = None) -> str:
        name = name or unique("vendor")
        result = self.htpasswd("-b", "-B", "-C", "4", str(self.path), name, password)
        assert result.returncode == 0, result.stderr
        return name

    def can_login(self, name: str, password: str = "vendor-pass-1") -> bool:
        """Apache's own check (apr_password_validate, as httpd's mod_authn_file)."""
        return self.htpasswd("-v", "-b", str(self.path), name, password).returncode == 0

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def htpasswd_file():
    made = HtpasswdFile()
    yield made
    made.remove()


@pytest.fixture
def htpasswd_system(agency, htpasswd_file):
    def make(**config):
        return make_system(agency, "htpasswd", {"path": str(htpasswd_file.path), **config})

    return make


NGINX_CONF = """\
daemon off;
master_process off;
user root;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
        # /<dir below the root>/<file>: that htpasswd file guards the answer.
        location / {{
            auth_basic "sundown test";
            auth_basic_user_file {root}$uri;
            root {dir}/www;
            try_files /ok.txt =404;
        }}
    }}
}}
"""


class Nginx:
    """A private nginx (Debian's) on a free loopback port whose ``auth_basic`` reads the
    htpasswd file named by the request path, below this run's local target root."""

    def __init__(self):
        from django.conf import settings

        self.root = Path(settings.SUNDOWN_LOCAL_TARGET_ROOTS[0])
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="sundown-nginx-"))

    def start(self) -> Nginx:
        if not Path("/usr/sbin/nginx").exists():
            pytest.fail("nginx is not installed: `make test` installs it (bin/ensure-services)")
        (self.dir / "tmp").mkdir()
        (self.dir / "www").mkdir()
        (self.dir / "www" / "ok.txt").write_text("in\n")
        conf = self.dir / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=self.dir, port=self.port, root=self.root))
        self.log = self.dir / "error.log"
        self.proc = subprocess.Popen(
            ["/usr/sbin/nginx", "-c", str(conf), "-p", str(self.dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        _wait_port(self.port, self.proc, "nginx", self.log)
        return self

    def stop(self) -> None:
        _stop(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)

    def status(self, file: HtpasswdFile, name: str, password: str = "vendor-pass-1") -> int:
        path = "/" + str(file.path.relative_to(self.root))
        url = f"http://{LOOPBACK}:{self.port}{path}"
        return httpx2.get(url, auth=(name, password), timeout=5).status_code


@pytest.fixture(scope="session")
def nginx():
    server = Nginx().start()
    yield server
    server.stop()
