"""Real target servers for the connector tests, and fixtures that create accounts on them.

- slapd: a private OpenLDAP server (mdb backend, ppolicy overlay) on a free loopback
  port with a throwaway config and data directory, once per test session.
- Redis and MariaDB: the shared servers on 127.0.0.1:6379 / :3306. Accounts created
  there carry this process's pid in their name and are removed afterwards; nothing
  else on those servers is touched.

The SCIM services are in servers_scim.py; sshd, htpasswd and nginx in servers_local.py.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

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
