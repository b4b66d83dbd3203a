"""The ``Target`` every connector's real target is reached through (see targets.py)."""

from __future__ import annotations

from typing import ClassVar

import pytest

from access.models import System

VENDOR_PASSWORD = "vendor-pass-1"


class Target:
    """One connector in one ``on_revoke`` mode, on its real server.

    ``login`` is False where the protocol has no vendor login to try (SCIM: the
    service only manages accounts; the applications behind it check them).
    """

    kind: ClassVar[str]
    login: ClassVar[bool] = True

    def __init__(self, request: pytest.FixtureRequest, agency, **config):
        self.request = request
        self.agency = agency
        self.mode = dict(config)

    @property
    def keeps_account(self) -> bool:
        """Whether revoking in this mode leaves the account there (disabled, locked)."""
        return self.mode.get("on_revoke") not in ("drop", "delete")

    def fixture(self, name: str):
        return self.request.getfixturevalue(name)

    # What every target provides ---------------------------------------------
    def system(self, **overrides) -> System:
        """A system the connector reaches with the right credentials."""
        raise NotImplementedError

    def down_system(self) -> System:
        """A system whose server does not answer (a free loopback port)."""
        raise NotImplementedError

    def bad_credentials_system(self) -> System:
        """A system whose connector password or token the server refuses."""
        raise NotImplementedError

    def account(self) -> str:
        """A new vendor account that can log in with VENDOR_PASSWORD; its external_id."""
        raise NotImplementedError

    def missing(self) -> str:
        """An external_id of the right shape that the target never had."""
        raise NotImplementedError

    def revoke_by_hand(self, external_id: str) -> None:
        """What an administrator would do on the target in this mode, without Sundown."""
        raise NotImplementedError

    def can_login(self, external_id: str) -> bool:
        """A real login as the vendor (only where ``login``)."""
        raise NotImplementedError

    def restore_by_hand(self, external_id: str) -> None:
        """Undo a revocation in this mode behind Sundown's back (drift), where the
        revoked account stays on the target."""
        raise NotImplementedError
