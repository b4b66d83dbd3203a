"""Directory and SaaS targets for the connector contract: OpenLDAP, Samba AD and the two
SCIM services (see targets.py)."""

from __future__ import annotations

import uuid
from typing import ClassVar

import ldap3

from tests.revocation.connectors.servers import (
    LOOPBACK,
    free_port,
    make_system,
    unique,
)
from tests.revocation.connectors.targets_base import VENDOR_PASSWORD, Target


class LDAPTarget(Target):
    kind = "ldap"

    @property
    def slapd(self):
        return self.fixture("slapd")

    def system(self, **overrides):
        return self.fixture("ldap_system")(**{**self.mode, **overrides})

    def down_system(self):
        return self.system(url=f"ldap://{LOOPBACK}:{free_port()}", timeout=1)

    def bad_credentials_system(self):
        return make_system(
            self.agency, self.kind, self.slapd.config(**self.mode), secret="not-the-password"
        )

    def account(self):
        return self.slapd.add_user(password=VENDOR_PASSWORD)

    def missing(self):
        return f"uid={unique('never')},{self.slapd.people}"

    def revoke_by_hand(self, external_id):
        with self.slapd.admin_connection() as conn:
            if self.mode.get("on_revoke") == "delete":
                conn.delete(external_id)
            elif self.mode.get("disable_method") == "ppolicy":
                locked = {"pwdAccountLockedTime": [(ldap3.MODIFY_REPLACE, ["000001010000Z"])]}
                conn.modify(external_id, locked)
            else:
                conn.modify(external_id, {"userPassword": [(ldap3.MODIFY_DELETE, [])]})

    def restore_by_hand(self, external_id):
        with self.slapd.admin_connection() as conn:
            if self.mode.get("disable_method") == "ppolicy":
                conn.modify(external_id, {"pwdAccountLockedTime": [(ldap3.MODIFY_DELETE, [])]})
            else:
                password = {"userPassword": [(ldap3.MODIFY_REPLACE, [VENDOR_PASSWORD])]}
                conn.modify(external_id, password)

    def can_login(self, external_id):
        return self.slapd.can_bind(external_id, VENDOR_PASSWORD)


class ADTarget(Target):
    """A Samba AD DC of the run's own (samba_dc.py); the vendor's login is a simple
    bind over LDAPS (test_ad.py also asks the KDC with kinit)."""

    kind = "ad"

    @property
    def dc(self):
        return self.fixture("samba_dc")

    def system(self, **overrides):
        return self.fixture("ad_system")(**{**self.mode, **overrides})

    def down_system(self):
        return self.system(url=f"ldaps://{LOOPBACK}:{free_port()}", timeout=1)

    def bad_credentials_system(self):
        return self.system(secret="Not-The-Password-1")

    def account(self):
        return self.dc.add_user(password=VENDOR_PASSWORD)

    def missing(self):
        return f"never{uuid.uuid4().hex[:12]}"

    def revoke_by_hand(self, external_id):
        if self.mode.get("on_revoke") == "delete":
            self.dc.delete(external_id)
        else:
            self.dc.set_uac(external_id, self.dc.uac(external_id) | 0x2)

    def restore_by_hand(self, external_id):
        self.dc.set_uac(external_id, self.dc.uac(external_id) & ~0x2)

    def can_login(self, external_id):
        return self.dc.can_bind(external_id, VENDOR_PASSWORD)


class SCIMTarget(Target):
    """scim2-server; ScimmyTarget runs the same cases on an independent implementation."""

    kind = "scim"
    login = False
    server_fixture: ClassVar[str] = "scim_server"
    system_fixture: ClassVar[str] = "scim_system"

    @property
    def server(self):
        return self.fixture(self.server_fixture)

    def system(self, **overrides):
        return self.fixture(self.system_fixture)(**{**self.mode, **overrides})

    def down_system(self):
        return self.system(url=f"http://{LOOPBACK}:{free_port()}/v2", timeout=1)

    def bad_credentials_system(self):
        return self.system(token="not-the-token")

    def account(self):
        return self.server.add_user()

    def missing(self):
        return str(uuid.uuid4())

    def revoke_by_hand(self, external_id):
        with self.server.http() as http:
            if self.mode.get("on_revoke") == "delete":
                response = http.delete(f"/Users/{external_id}")
            else:
                response = http.patch(
                    f"/Users/{external_id}",
                    json={
                        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "replace", "path": "active", "value": False}],
                    },
                )
            response.raise_for_status()

    def restore_by_hand(self, external_id):
        with self.server.http() as http:
            response = http.patch(
                f"/Users/{external_id}",
                json={
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "active", "value": True}],
                },
            )
            response.raise_for_status()


class ScimmyTarget(SCIMTarget):
    server_fixture = "scimmy_server"
    system_fixture = "scimmy_system"
