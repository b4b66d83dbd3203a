"""A real Active Directory for the ``ad`` connector tests: a Samba AD DC of our own.

Once per test session (``samba_dc`` fixture) a fresh domain ``SUNDOWN.TEST`` is
provisioned in a temporary directory (``samba-tool domain provision``, no DNS server)
and ``samba`` runs in the foreground as this process's child, serving only LDAP and
Kerberos on two random 127.x.y.z addresses (``interfaces``, ``bind interfaces only``),
so parallel runs never share ports or a domain. Its TLS certificate comes from a CA
made for the run and names only the first address: the second one is "a host name the
certificate does not name". Provisioning takes several seconds on an idle machine and
tens of seconds on a busy one.

``make test`` installs Samba and MIT Kerberos's kinit from Debian (bin/ensure-services).
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import ldap3
import pytest

from revocation.connectors.directory import VerifiedTls, tls_context
from tests.revocation.connectors.servers import _stop, make_system
from tests.revocation.connectors.tls_certs import TestCA

REALM = "SUNDOWN.TEST"
BASE = "DC=sundown,DC=test"
VENDORS = f"OU=Vendors,{BASE}"
ADMIN_PASSWORD = "Admin-Pass-1234"

SMB_CONF = """\
[global]
	netbios name = DC1
	realm = {realm}
	workgroup = SUNDOWN
	server role = active directory domain controller
	server services = ldap, kdc
	interfaces = {ip}/8 {other_ip}/8
	bind interfaces only = yes
	private dir = {dir}/private
	state directory = {dir}/state
	cache directory = {dir}/cache
	lock directory = {dir}/lock
	binddns dir = {dir}/bind-dns
	pid directory = {dir}
	log file = {dir}/samba.log
	logging = file
	idmap_ldb:use rfc2307 = yes
	tls enabled = yes
	tls keyfile = {dir}/tls/server.key
	tls certfile = {dir}/tls/server.crt
	tls cafile = {dir}/tls/ca.crt
"""

KRB5_CONF = """\
[libdefaults]
	default_realm = {realm}
	dns_lookup_kdc = false
	dns_lookup_realm = false
	rdns = false
[realms]
	{realm} = {{
		kdc = {ip}
	}}
"""


def _free_loopback() -> str:
    """A 127.x.y.z address (not 127.0.0.1) where nothing listens on the AD ports."""
    for _ in range(50):
        ip = f"127.{random.randint(1, 254)}.{random.randint(0, 254)}.{random.randint(1, 254)}"
        free = True
        for port in (88, 389, 636):
            with socket.socket() as s:
                try:
                    s.bind((ip, port))
                except OSError:
                    free = False
                    break
        if free:
            return ip
    raise RuntimeError("no free 127.x.y.z address for the Samba DC")


def _wait(ip: str, port: int, proc: subprocess.Popen, log: Path, timeout=120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"samba exited with {proc.returncode}:\n{_tail(log)}")
        with socket.socket() as s:
            if s.connect_ex((ip, port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"samba did not listen on {ip}:{port} in {timeout}s:\n{_tail(log)}")


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-4000:] if path.exists() else "(no log)"


class SambaDC:
    """A private Samba AD DC: OU=Vendors for the tests' accounts, a TLS CA of its own."""

    base = BASE
    vendors = VENDORS
    admin_upn = f"administrator@{REALM.lower()}"
    password = ADMIN_PASSWORD

    def __init__(self):
        for tool in ("samba", "samba-tool"):
            if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
                pytest.fail(f"{tool} is not installed: `make test` installs samba")
        if os.geteuid() != 0:
            pytest.fail("the Samba AD DC runs as root (as the suite does)")
        self.ip = _free_loopback()
        self.other_ip = _free_loopback()
        self.dir = Path(tempfile.mkdtemp(prefix="sundown-samba-"))
        self.ca = TestCA("Sundown test AD CA")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"ldaps://{self.ip}"

    def start(self) -> SambaDC:
        for sub in ("private", "state", "cache", "lock", "bind-dns", "tls"):
            (self.dir / sub).mkdir()
        options = [
            f"--option=interfaces = {self.ip}/8",
            "--option=bind interfaces only = yes",
            *(
                f"--option={name} = {self.dir / sub}"
                for name, sub in (
                    ("private dir", "private"),
                    ("state directory", "state"),
                    ("cache directory", "cache"),
                    ("lock directory", "lock"),
                    ("binddns dir", "bind-dns"),
                )
            ),
            f"--option=pid directory = {self.dir}",
        ]
        provision = subprocess.run(
            [
                "samba-tool",
                "domain",
                "provision",
                f"--realm={REALM}",
                "--domain=SUNDOWN",
                "--server-role=dc",
                "--dns-backend=NONE",
                "--use-rfc2307",
                "--host-name=dc1",
                f"--adminpass={ADMIN_PASSWORD}",
                f"--targetdir={self.dir}",
                *options,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if provision.returncode != 0:
            raise RuntimeError(
                f"samba-tool provision failed:\n{provision.stdout[-3000:]}"
                f"\n{provision.stderr[-3000:]}"
            )
        tls = self.dir / "tls"
        self.ca.issue(tls, ips=[self.ip], dns_names=["dc1.sundown.test"])
        (tls / "ca.crt").write_text(self.ca.pem)
        conf = self.dir / "smb.conf"
        conf.write_text(
            SMB_CONF.format(realm=REALM, ip=self.ip, other_ip=self.other_ip, dir=self.dir)
        )
        (self.dir / "krb5.conf").write_text(KRB5_CONF.format(realm=REALM, ip=self.ip))
        self.log = self.dir / "samba.out"
        # -i: foreground, no daemon; the single process model keeps it to one process
        # on a 2-core machine shared with other runs.
        self.proc = subprocess.Popen(
            ["samba", "-i", "-M", "single", "-s", str(conf)],
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        _wait(self.ip, 636, self.proc, self.log)
        _wait(self.other_ip, 636, self.proc, self.log)
        with self.admin_connection() as conn:
            conn.add(VENDORS, ["organizationalUnit"], {"ou": "Vendors"})
        return self

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)

    # Directory access as the domain's administrator ------------------------------
    def _server(self, ip: str | None = None) -> ldap3.Server:
        tls = VerifiedTls(tls_context({"tls_ca": self.ca.pem}))
        return ldap3.Server(ip or self.ip, port=636, use_ssl=True, tls=tls, get_info=ldap3.NONE)

    def admin_connection(self) -> ldap3.Connection:
        return ldap3.Connection(
            self._server(), self.admin_upn, self.password, auto_bind=True, raise_exceptions=True
        )

    def add_user(
        self,
        password: str = "vendor-pass-1",
        *,
        groups=(),
        mail: str = "",
        name: str | None = None,
        ou: str = VENDORS,
    ) -> str:
        """A new enabled account (userAccountControl 512) under ``ou``; its sAMAccountName."""
        sam = name or f"v{uuid.uuid4().hex[:12]}"  # sAMAccountName holds 20 characters
        dn = f"CN={sam},{ou}"
        attributes = {
            "sAMAccountName": sam,
            "userPrincipalName": f"{sam}@{REALM.lower()}",
            "unicodePwd": f'"{password}"'.encode("utf-16-le"),
            "userAccountControl": "512",
        }
        if mail:
            attributes["mail"] = mail
        with self.admin_connection() as conn:
            conn.add(dn, ["top", "person", "organizationalPerson", "user"], attributes)
            for group in groups:
                conn.modify(group, {"member": [(ldap3.MODIFY_ADD, [dn])]})
        return sam

    def dn(self, sam: str) -> str | None:
        with self.admin_connection() as conn:
            conn.search(BASE, f"(sAMAccountName={sam})", attributes=["1.1"])
            return conn.entries[0].entry_dn if conn.entries else None

    def uac(self, sam: str) -> int:
        with self.admin_connection() as conn:
            conn.search(BASE, f"(sAMAccountName={sam})", attributes=["userAccountControl"])
            return int(conn.entries[0].userAccountControl.value)

    def set_uac(self, sam: str, value: int) -> None:
        dn = self.dn(sam)
        with self.admin_connection() as conn:
            conn.modify(dn, {"userAccountControl": [(ldap3.MODIFY_REPLACE, [str(value)])]})

    def delete(self, sam: str) -> None:
        dn = self.dn(sam)
        with self.admin_connection() as conn:
            conn.delete(dn)

    def add_group(self, *members: str) -> str:
        """A global security group under OU=Vendors holding these accounts; its DN."""
        cn = f"g{uuid.uuid4().hex[:12]}"
        dn = f"CN={cn},{VENDORS}"
        member_dns = [self.dn(m) for m in members]
        with self.admin_connection() as conn:
            attributes: dict = {"sAMAccountName": cn}
            if member_dns:
                attributes["member"] = member_dns
            conn.add(dn, ["top", "group"], attributes)
        return dn

    def members(self, group_dn: str) -> list[str]:
        with self.admin_connection() as conn:
            conn.search(group_dn, "(objectClass=*)", ldap3.BASE, attributes=["member"])
            return [str(m) for m in conn.entries[0].member.values]

    def add_member(self, group_dn: str, sam: str) -> None:
        with self.admin_connection() as conn:
            conn.modify(group_dn, {"member": [(ldap3.MODIFY_ADD, [self.dn(sam)])]})

    # What the vendor does -------------------------------------------------------
    def bind(self, sam: str, password: str = "vendor-pass-1") -> tuple[bool, str]:
        """A real simple bind over LDAPS as ``sam@sundown.test``: (bound, AD's message)."""
        conn = ldap3.Connection(self._server(), f"{sam}@{REALM.lower()}", password)
        try:
            return conn.bind(), str(conn.result.get("message", ""))
        finally:
            conn.unbind()

    def can_bind(self, sam: str, password: str = "vendor-pass-1") -> bool:
        return self.bind(sam, password)[0]

    def kinit(self, sam: str, password: str = "vendor-pass-1") -> tuple[bool, str]:
        """MIT kinit against this DC's KDC: (got a ticket, what kinit printed)."""
        cache = self.dir / f"cc-{uuid.uuid4().hex}"
        result = subprocess.run(
            ["kinit", f"{sam}@{REALM}"],
            input=password + "\n",
            capture_output=True,
            text=True,
            timeout=30,
            env={
                **os.environ,
                "KRB5_CONFIG": str(self.dir / "krb5.conf"),
                "KRB5CCNAME": f"FILE:{cache}",
            },
            check=False,
        )
        cache.unlink(missing_ok=True)
        return result.returncode == 0, (result.stdout + result.stderr).strip()

    def config(self, **extra) -> dict:
        return {
            "url": self.url,
            "bind_dn": self.admin_upn,
            "base_dn": VENDORS,
            "tls_ca": self.ca.pem,
            **extra,
        }


@pytest.fixture(scope="session")
def samba_dc():
    server = SambaDC().start()
    yield server
    server.stop()


@pytest.fixture
def ad_system(agency, samba_dc):
    def make(secret: str | None = None, **config):
        return make_system(
            agency,
            "ad",
            samba_dc.config(**config),
            secret=samba_dc.password if secret is None else secret,
        )

    return make
