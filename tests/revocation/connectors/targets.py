"""How the connector contract (test_contract.py) reaches each connector's real target.

A ``Target`` makes systems and vendor accounts on one real server (see servers.py) and
does, as the target's administrator, what the contract needs to check Sundown by:
revoking behind Sundown's back, and logging in as the vendor. Adding a connector means
one subclass here (or in targets_directory.py) and one line in ``TARGETS``; the
contract cases then run against it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg2
import pymysql
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.revocation.connectors.servers import (
    LOOPBACK,
    MARIADB_PORT,
    REDIS_PORT,
    free_port,
    make_system,
    mariadb_admin,
    redis_admin,
    unique,
)
from tests.revocation.connectors.targets_base import VENDOR_PASSWORD, Target
from tests.revocation.connectors.targets_directory import (
    ADTarget,
    LDAPTarget,
    ScimmyTarget,
    SCIMTarget,
)
from tests.revocation.helpers import PG, pg_admin

__all__ = ["TARGETS", "VENDOR_PASSWORD", "Target"]


class PostgresTarget(Target):
    """The shared server. It trusts loopback, so a wrong *password* is never refused
    there; the refused credential is a connector role the server does not know."""

    kind = "postgres"

    def _config(self, **overrides) -> dict:
        return {
            "host": PG["host"],
            "port": PG["port"],
            "user": "postgres",
            **self.mode,
            **overrides,
        }

    def system(self, **overrides):
        return make_system(self.agency, self.kind, self._config(**overrides))

    def down_system(self):
        return self.system(port=free_port(), connect_timeout=1)

    def bad_credentials_system(self):
        return make_system(
            self.agency, self.kind, self._config(user=unique("nobody")), secret="not-it"
        )

    def account(self):
        (name,) = self.fixture("pg_roles")(1)
        return name

    def missing(self):
        return unique("never")

    def revoke_by_hand(self, external_id):
        verb = "DROP ROLE" if self.mode.get("on_revoke") == "drop" else "ALTER ROLE"
        suffix = "" if verb == "DROP ROLE" else " NOLOGIN"
        with pg_admin() as cursor:
            cursor.execute(f'{verb} "{external_id}"{suffix}')

    def restore_by_hand(self, external_id):
        with pg_admin() as cursor:
            cursor.execute(f'ALTER ROLE "{external_id}" LOGIN PASSWORD %s', [VENDOR_PASSWORD])

    def can_login(self, external_id):
        try:
            psycopg2.connect(
                host=PG["host"],
                port=PG["port"],
                user=external_id,
                password=VENDOR_PASSWORD,
                dbname="postgres",
            ).close()
        except psycopg2.OperationalError:
            return False
        return True


class MariaDBTarget(Target):
    kind = "mariadb"

    def system(self, **overrides):
        return self.fixture("mariadb_system")(**{**self.mode, **overrides})

    def down_system(self):
        return self.system(port=free_port(), timeout=1)

    def bad_credentials_system(self):
        return self.system(secret="not-the-password")

    def account(self):
        (name,) = self.fixture("mariadb_users")()
        return f"{name}@%"

    def missing(self):
        return f"{unique('never')}@%"

    def revoke_by_hand(self, external_id):
        user = external_id.rpartition("@")[0]
        statement = (
            "DROP USER %s@'%%'"
            if self.mode.get("on_revoke") == "drop"
            else ("ALTER USER %s@'%%' ACCOUNT LOCK")
        )
        with mariadb_admin() as admin, admin.cursor() as cursor:
            cursor.execute(statement, (user,))

    def restore_by_hand(self, external_id):
        user = external_id.rpartition("@")[0]
        with mariadb_admin() as admin, admin.cursor() as cursor:
            cursor.execute(
                "ALTER USER %s@'%%' IDENTIFIED BY %s ACCOUNT UNLOCK", (user, VENDOR_PASSWORD)
            )

    def can_login(self, external_id):
        user = external_id.rpartition("@")[0]
        try:
            pymysql.connect(
                host=LOOPBACK,
                port=MARIADB_PORT,
                user=user,
                password=VENDOR_PASSWORD,
                connect_timeout=5,
            ).close()
        except pymysql.OperationalError:
            return False
        return True


class RedisTarget(Target):
    kind = "redis"

    def system(self, **overrides):
        return self.fixture("redis_system")(**{**self.mode, **overrides})

    def down_system(self):
        return self.system(port=free_port(), timeout=1)

    def bad_credentials_system(self):
        (admin,) = self.fixture("redis_users")(password="admin-pass")
        return self.system(user=admin, secret="not-the-password")

    def account(self):
        (name,) = self.fixture("redis_users")()
        return name

    def missing(self):
        return unique("never")

    def revoke_by_hand(self, external_id):
        if self.mode.get("on_revoke") == "delete":
            redis_admin().acl_deluser(external_id)
        else:
            redis_admin().acl_setuser(external_id, enabled=False, reset_passwords=True)

    def restore_by_hand(self, external_id):
        redis_admin().acl_setuser(external_id, enabled=True, passwords=[f"+{VENDOR_PASSWORD}"])

    def can_login(self, external_id):
        client = redis.Redis(
            host=LOOPBACK,
            port=REDIS_PORT,
            username=external_id,
            password=VENDOR_PASSWORD,
            socket_timeout=5,
            retry=Retry(NoBackoff(), 0),  # a refused AUTH fails at once, not after backoff
        )
        try:
            return bool(client.ping())
        except redis.AuthenticationError:
            return False
        finally:
            client.close()


class SSHTarget(Target):
    kind = "ssh"

    @property
    def sshd(self):
        return self.fixture("sshd")

    @property
    def keeps_account(self) -> bool:
        # "remove" takes the key out of the file; a KRL leaves it listed and refused.
        return self.mode.get("on_revoke") == "krl"

    def system(self, **overrides):
        return self.fixture("ssh_system")(**{**self.mode, **overrides})

    def down_system(self):
        return self.system(port=free_port(), timeout=1)

    def bad_credentials_system(self):
        stranger = self.sshd.add_key(authorize=False)
        return self.system(secret=stranger.private)

    def account(self):
        return self.sshd.add_key().fingerprint

    def missing(self):
        return self.sshd.add_key(authorize=False).fingerprint

    def revoke_by_hand(self, external_id):
        key = self.sshd.keys[external_id]
        if self.mode.get("on_revoke") == "krl":
            subprocess.run(
                ["ssh-keygen", "-q", "-k", "-u", "-f", str(self.sshd.krl), f"{key.path}.pub"],
                check=True,
                capture_output=True,
            )
        else:
            path = self.sshd.authorized_keys
            lines = path.read_text().splitlines(keepends=True)
            path.write_text("".join(line for line in lines if key.public not in line))

    def restore_by_hand(self, external_id):
        key = self.sshd.keys[external_id]
        with self.sshd.authorized_keys.open("a") as f:
            f.write(key.public + "\n")

    def can_login(self, external_id):
        return self.sshd.can_login(external_id)


class HtpasswdTarget(Target):
    """A file below this run's root; the vendor's login is Apache's own password check
    (``htpasswd -v``); test_htpasswd.py also asks a real nginx."""

    kind = "htpasswd"

    @property
    def file(self):
        return self.fixture("htpasswd_file")

    def system(self, **overrides):
        return self.fixture("htpasswd_system")(**{**self.mode, **overrides})

    def down_system(self):
        # A directory that is not there: a mount not mounted yet.
        return self.system(path=str(self.file.dir / "not-mounted" / "users.htpasswd"))

    def bad_credentials_system(self):
        # What the worker may not touch: a link below the root to a file outside it.
        outside = Path(tempfile.mkdtemp(prefix="sundown-outside-")) / "users.htpasswd"
        shutil.copy(self.file.path, outside)
        self.request.addfinalizer(lambda: shutil.rmtree(outside.parent, ignore_errors=True))
        link = self.file.dir / "link.htpasswd"
        link.symlink_to(outside)
        return self.system(path=str(link))

    def account(self):
        return self.file.add_user(VENDOR_PASSWORD)

    def missing(self):
        return unique("never")

    def revoke_by_hand(self, external_id):
        if self.mode.get("on_revoke") == "delete":
            result = self.file.htpasswd("-D", str(self.file.path), external_id)
            assert result.returncode == 0, result.stderr
        else:
            # No htpasswd option disables a user; administrators mark the hash.
            text = self.file.path.read_text()
            self.file.path.write_text(text.replace(f"{external_id}:", f"{external_id}:!", 1))

    def restore_by_hand(self, external_id):
        text = self.file.path.read_text()
        self.file.path.write_text(text.replace(f"{external_id}:!", f"{external_id}:"))

    def can_login(self, external_id):
        return self.file.can_login(external_id, VENDOR_PASSWORD)


# Every connector in every on_revoke mode that changes what verify reads. The
# LDAP and AD remove_groups modes take group memberships, not the login: their own
# tests (test_ldap.py, test_ad.py) cover them.
TARGETS: dict[str, tuple[type[Target], dict]] = {
    "postgres-nologin": (PostgresTarget, {}),
    "postgres-drop": (PostgresTarget, {"on_revoke": "drop"}),
    "mariadb-lock": (MariaDBTarget, {}),
    "mariadb-drop": (MariaDBTarget, {"on_revoke": "drop"}),
    "redis-disable": (RedisTarget, {}),
    "redis-delete": (RedisTarget, {"on_revoke": "delete"}),
    "ldap-password": (LDAPTarget, {}),
    "ldap-ppolicy": (LDAPTarget, {"disable_method": "ppolicy"}),
    "ldap-delete": (LDAPTarget, {"on_revoke": "delete"}),
    "ad-disable": (ADTarget, {}),
    "ad-delete": (ADTarget, {"on_revoke": "delete"}),
    "scim-deactivate": (SCIMTarget, {}),
    "scim-delete": (SCIMTarget, {"on_revoke": "delete"}),
    "ssh-remove": (SSHTarget, {}),
    "ssh-krl": (SSHTarget, {"on_revoke": "krl"}),
    "htpasswd-disable": (HtpasswdTarget, {}),
    "htpasswd-delete": (HtpasswdTarget, {"on_revoke": "delete"}),
    "scimmy-deactivate": (ScimmyTarget, {}),
    "scimmy-delete": (ScimmyTarget, {"on_revoke": "delete"}),
}
