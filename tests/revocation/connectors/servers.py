"""Real target servers for the connector tests, and fixtures that create accounts on them.

- slapd: a private OpenLDAP server (mdb backend, ppolicy overlay) on a free loopback
  port with a throwaway config and data directory, once per test session.
- scim2-server: a SCIM 2.0 service in a subprocess on a free loopback port, once per
  test session, with a bearer token.
- scimmy: an independently written SCIM 2.0 service (npm scimmy + scimmy-routers, in
  node_modules), run by scimmy_server.mjs the same way; also in the quirky variants some
  services in the field have (see that script).
- Redis and MariaDB: the shared servers on 127.0.0.1:6379 / :3306. Accounts created
  there carry this process's pid in their name and are removed afterwards; nothing
  else on those servers is touched.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx2
import ldap3
import pymysql
import pytest
import redis

from access.crypto import encrypt
from tests.factories import ContractFactory, CredentialFactory, SystemFactory, VendorFactory

LOOPBACK = "127.0.0.1"
REDIS_PORT = 6379
MARIADB_PORT = 3306


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def unique(prefix: str = "sd") -> str:
    """A name no parallel test run uses: prefix, pid, random part."""
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


def _wait_port(port: int, proc: subprocess.Popen, what: str, log: Path, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log.read_text()}")
        with socket.socket() as s:
            if s.connect_ex((LOOPBACK, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout}s:\n{log.read_text()}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def make_system(agency, kind: str, config: dict, secret: str = ""):
    return SystemFactory(
        agency=agency,
        name=unique(kind),
        kind=kind,
        config=config,
        secret_encrypted=encrypt(secret) if secret else "",
    )


# slapd ---------------------------------------------------------------------
SLAPD_CONF = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
moduleload lastbind
pidfile {dir}/slapd.pid
database mdb
suffix "{base}"
rootdn "{admin}"
rootpw {password}
directory {dir}/data
maxsize 104857600
overlay ppolicy
ppolicy_default "cn=default,ou=policies,{base}"
# Records each successful bind's time (authTimestamp): reconciliation's last login.
overlay lastbind
"""


def _slapd_binary() -> str:
    found = shutil.which("slapd") or ("/usr/sbin/slapd" if Path("/usr/sbin/slapd").exists() else "")
    if not found:
        pytest.fail("slapd is not installed: `make test` installs it (bin/ensure-services)")
    return found


class Slapd:
    """A private slapd; its directory has ou=people, ou=groups and a lockout policy."""

    base = "dc=sundown,dc=test"
    admin = f"cn=admin,{base}"
    password = "admin-secret"
    people = f"ou=people,{base}"
    groups = f"ou=groups,{base}"

    def __init__(self, ca=None):
        self.port = free_port()
        self.url = f"ldap://{LOOPBACK}:{self.port}"
        self.dir = Path(tempfile.mkdtemp(prefix="sundown-slapd-"))
        self.proc: subprocess.Popen | None = None
        # With a CA (tls_certs.TestCA): also LDAPS on 127.0.0.1, whose address the
        # certificate names, and on 127.0.0.2, which it does not; StartTLS on self.url.
        self.ca = ca
        self.ldaps_url = f"ldaps://{LOOPBACK}:{free_port()}"
        self.other_ldaps_url = f"ldaps://127.0.0.2:{free_port()}"

    def start(self) -> Slapd:
        (self.dir / "data").mkdir()
        conf = self.dir / "slapd.conf"
        text = SLAPD_CONF.format(
            dir=self.dir, base=self.base, admin=self.admin, password=self.password
        )
        listen = [f"{self.url}/"]
        if self.ca is not None:
            key, cert = self.ca.issue(self.dir, ips=[LOOPBACK])
            text = f"TLSCertificateFile {cert}\nTLSCertificateKeyFile {key}\n{text}"
            listen += [f"{self.ldaps_url}/", f"{self.other_ldaps_url}/"]
        conf.write_text(text)
        log = self.dir / "slapd.log"
        # -d keeps slapd in the foreground, so the fixture owns the process.
        self.proc = subprocess.Popen(
            [_slapd_binary(), "-f", str(conf), "-h", " ".join(listen), "-d", "0"],
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        _wait_port(self.port, self.proc, "slapd", log)
        with self.admin_connection() as conn:
            conn.add(self.base, ["dcObject", "organization"], {"o": "Sundown", "dc": "sundown"})
            for ou in ("people", "groups", "policies"):
                conn.add(f"ou={ou},{self.base}", ["organizationalUnit"], {"ou": ou})
            # pwdLockout is what makes slapd refuse binds of entries with pwdAccountLockedTime.
            conn.add(
                f"cn=default,ou=policies,{self.base}",
                ["organizationalRole", "pwdPolicy"],
                {"cn": "default", "pwdAttribute": "userPassword", "pwdLockout": "TRUE"},
            )
        return self

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)

    def admin_connection(self) -> ldap3.Connection:
        return ldap3.Connection(
            ldap3.Server(self.url, get_info=ldap3.NONE),
            self.admin,
            self.password,
            auto_bind=True,
            raise_exceptions=True,
        )

    def add_user(self, password: str = "vendor-pass-1", groups=()) -> str:
        uid = unique("vendor")
        dn = f"uid={uid},{self.people}"
        with self.admin_connection() as conn:
            conn.add(
                dn,
                ["inetOrgPerson"],
                {"uid": uid, "cn": uid, "sn": "Vendor", "userPassword": password},
            )
            for group in groups:
                conn.modify(group, {"member": [(ldap3.MODIFY_ADD, [dn])]})
        return dn

    def add_group(self, *members: str) -> str:
        cn = unique("group")
        dn = f"cn={cn},{self.groups}"
        with self.admin_connection() as conn:
            conn.add(dn, ["groupOfNames"], {"cn": cn, "member": list(members) or [self.admin]})
        return dn

    def members(self, group_dn: str) -> list[str]:
        with self.admin_connection() as conn:
            conn.search(group_dn, "(objectClass=*)", ldap3.BASE, attributes=["member"])
            return [str(m) for m in conn.entries[0].member.values]

    def exists(self, dn: str) -> bool:
        with self.admin_connection() as conn:
            try:
                return conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["1.1"])
            except ldap3.core.exceptions.LDAPNoSuchObjectResult:
                return False

    def can_bind(self, dn: str, password: str = "vendor-pass-1") -> bool:
        """A real simple bind, as the vendor would do it."""
        conn = ldap3.Connection(ldap3.Server(self.url, get_info=ldap3.NONE), dn, password)
        try:
            return conn.bind()
        finally:
            conn.unbind()

    def config(self, **extra) -> dict:
        return {"url": self.url, "bind_dn": self.admin, "base_dn": self.base, **extra}


@pytest.fixture(scope="session")
def slapd():
    server = Slapd().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def slapd_tls():
    """A second slapd that also speaks TLS, with a certificate from a CA of its own."""
    from tests.revocation.connectors.tls_certs import TestCA

    server = Slapd(ca=TestCA("Sundown test LDAP CA")).start()
    yield server
    server.stop()


@pytest.fixture
def ldap_system(agency, slapd):
    def make(**config):
        return make_system(agency, "ldap", slapd.config(**config), secret=slapd.password)

    return make


# SCIM ----------------------------------------------------------------------
class ScimServer:
    """scim2-server's test server (in-memory storage), run as a real HTTP service."""

    token = "scim-test-token"

    def __init__(self):
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}/v2"
        self.log = Path(tempfile.mkstemp(prefix="sundown-scim-", suffix=".log")[1])
        self.proc: subprocess.Popen | None = None

    def start(self) -> ScimServer:
        cli = Path(sys.executable).with_name("scim2-server")
        self.proc = subprocess.Popen(
            [str(cli), "--hostname", LOOPBACK, "--port", str(self.port)]
            + ["--bearer-token", self.token],
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        _wait_port(self.port, self.proc, "scim2-server", self.log)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
        self.log.unlink(missing_ok=True)

    def http(self) -> httpx2.Client:
        return httpx2.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=10
        )

    def add_users(self, n: int, active: bool = True) -> list[str]:
        ids = []
        with self.http() as http:
            for _ in range(n):
                response = http.post(
                    "/Users",
                    json={
                        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                        "userName": unique("vendor"),
                        "active": active,
                    },
                )
                response.raise_for_status()
                ids.append(response.json()["id"])
        return ids

    def add_user(self, active: bool = True) -> str:
        return self.add_users(1, active)[0]

    def user(self, user_id: str) -> dict | None:
        with self.http() as http:
            response = http.get(f"/Users/{user_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()


class ScimmyServer(ScimServer):
    """scimmy behind express (node), in-memory users; ``quirks`` as scimmy_server.mjs."""

    script = Path(__file__).with_name("scimmy_server.mjs")

    def __init__(self, *quirks: str):
        super().__init__()
        self.url = f"http://{LOOPBACK}:{self.port}/scim/v2"
        self.quirks = quirks

    def start(self) -> ScimmyServer:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is needed for the scimmy SCIM server")
        self.proc = subprocess.Popen(
            [node, str(self.script), str(self.port), self.token],
            env={**os.environ, "SCIMMY_QUIRKS": ",".join(self.quirks)},
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        _wait_port(self.port, self.proc, "scimmy", self.log)
        return self


@pytest.fixture(scope="session")
def scim_server():
    server = ScimServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def scimmy_server():
    server = ScimmyServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def scimmy_servers():
    """scimmy with quirks, by quirk set: each started on first use, once per session."""
    servers: dict[tuple[str, ...], ScimmyServer] = {}

    def get(*quirks: str) -> ScimmyServer:
        if quirks not in servers:
            servers[quirks] = ScimmyServer(*quirks).start()
        return servers[quirks]

    yield get
    for server in servers.values():
        server.stop()


def _scim_system_factory(agency, server: ScimServer):
    def make(token: str | None = None, **config):
        return make_system(
            agency,
            "scim",
            {"url": server.url, **config},
            secret=server.token if token is None else token,
        )

    return make


@pytest.fixture
def scim_system(agency, scim_server):
    return _scim_system_factory(agency, scim_server)


@pytest.fixture
def scimmy_system(agency, scimmy_server):
    return _scim_system_factory(agency, scimmy_server)


@pytest.fixture
def scimmy_quirky_system(agency, scimmy_servers):
    """A system on a scimmy started with these quirks, and that server."""

    def make(*quirks: str, **config):
        server = scimmy_servers(*quirks)
        return _scim_system_factory(agency, server)(**config), server

    return make


# Redis (shared server) -----------------------------------------------------
def redis_admin() -> redis.Redis:
    return redis.Redis(host=LOOPBACK, port=REDIS_PORT, decode_responses=True, socket_timeout=5)


@pytest.fixture
def redis_users():
    """Create ACL users on the shared Redis (``make(n)`` -> names); deleted afterwards."""
    created: list[str] = []
    admin = redis_admin()

    def make(n: int = 1, password: str = "vendor-pass-1", commands=("+@all",)) -> list[str]:
        names = [unique() for _ in range(n)]
        pipe = admin.pipeline(transaction=False)
        for name in names:
            pipe.acl_setuser(
                name, enabled=True, passwords=[f"+{password}"], keys=["*"], commands=list(commands)
            )
        pipe.execute()
        created.extend(names)
        return names

    yield make
    if created:
        admin.acl_deluser(*created)
    admin.close()


@pytest.fixture
def redis_system(agency):
    def make(secret: str = "", **config):
        return make_system(
            agency, "redis", {"host": LOOPBACK, "port": REDIS_PORT, **config}, secret=secret
        )

    return make


# MariaDB (shared server) ---------------------------------------------------
def mariadb_admin() -> pymysql.connections.Connection:
    return pymysql.connect(
        host=LOOPBACK, port=MARIADB_PORT, user="root", autocommit=True, connect_timeout=5
    )


@pytest.fixture
def mariadb_users():
    """Create accounts 'name'@'%' on the shared MariaDB (``make(n)``); dropped afterwards."""
    created: list[str] = []
    admin = mariadb_admin()

    def make(n: int = 1, password: str = "vendor-pass-1") -> list[str]:
        names = [unique() for _ in range(n)]
        with admin.cursor() as cursor:
            for name in names:
                cursor.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (name, password))
        created.extend(names)
        return names

    yield make
    with admin.cursor() as cursor:
        for name in created:
            cursor.execute("DROP USER IF EXISTS %s@'%%'", (name,))
    admin.close()


@pytest.fixture
def mariadb_system(agency):
    def make(secret: str = "", **config):
        config = {"host": LOOPBACK, "port": MARIADB_PORT, "user": "root", **config}
        return make_system(agency, "mariadb", config, secret=secret)

    return make


class CallCounter:
    """Counts calls of one real method (a spy, not a mock: the call still happens)."""

    def __init__(self, monkeypatch, owner, name: str):
        self.calls = 0
        original = getattr(owner, name)

        def spy(*args, **kwargs):
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, spy)


def credentials(system, external_ids, kind="other"):
    """Credentials of one vendor (one contract) on ``system``, saved to the test database."""
    vendor = VendorFactory(agency=system.agency)
    contract = ContractFactory(vendor=vendor)
    return [
        CredentialFactory(
            vendor=vendor, system=system, external_id=eid, kind=kind, contracts=[contract]
        )
        for eid in external_ids
    ]


def request_all(rows, reason="contract ended"):
    """Put credentials in the revocation queue, as a person would, without a worker."""
    from audit.actor import Actor
    from revocation import services

    for row in rows:
        services.credential_revoke(actor=Actor.system("test"), credential=row, reason=reason)


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
