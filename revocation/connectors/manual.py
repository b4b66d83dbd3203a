"""Systems revoked by a person: the engine opens a ManualTask; nothing is auto-verified.

``verifies = False`` tells the engine that a returned call proves nothing here:
instead of marking the credential revoked, it opens a manual task for the
system owner in the same transaction as the audit event, and the credential
stays pending until a person confirms with a note
(``revocation.services.manual_task_complete``).
"""

from __future__ import annotations

from collections.abc import Iterable

from access.destinations import RECORD_KEYS, recorded_destinations
from access.models import Credential
from revocation.connectors.base import Account, Connector, ConnectorError
from revocation.connectors.meta.manual import META


class ManualConnector(Connector):
    verifies = META.verifies
    # Where a person goes to revoke: a record only, nothing connects.
    config_keys = destination_keys = RECORD_KEYS
    config_help = META.config_help
    secret_help = META.secret_help

    @classmethod
    def destinations(cls, config: dict) -> list[tuple[str, int]]:
        return recorded_destinations(config)

    def revoke(self, credential: Credential) -> None:
        """Nothing to call: the hand-off is the engine's manual task."""

    def revoke_many(self, credentials: Iterable[Credential]) -> dict[int, ConnectorError | None]:
        return {credential.pk: None for credential in credentials}

    def is_active(self, credential: Credential) -> bool:
        # Nobody can read this target back; only a person's confirmation settles it.
        return True

    def list_accounts(self) -> list[Account]:
        raise ConnectorError("a manual system cannot be listed automatically", permanent=True)
