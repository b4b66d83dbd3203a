"""The connector interface every target kind implements.

A connector talks to one real target system. It must be idempotent ("already
gone" is success), end live sessions where the target allows it, and report the
truth from the target in ``is_active``: nothing is marked revoked on the strength
of a call that merely returned.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from access.models import Credential, System
from revocation.connectors.registry import connector_class


class ConnectorError(Exception):
    """A failed call to a target. ``permanent`` means retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.message = message
        self.permanent = permanent


@dataclass(frozen=True)
class Account:
    """An account found on a target by ``list_accounts`` (discovery and drift)."""

    external_id: str
    active: bool
    detail: str = ""


class Connector:
    """Base class. Subclasses implement the three single-item methods.

    The batch methods default to a loop; connectors whose target allows fewer
    round trips (one transaction, a pipeline, one search) override them.
    """

    # False for targets nobody can read back (manual): the engine then hands the
    # credential to a person instead of marking it revoked.
    verifies: bool = True

    def __init__(self, system: System):
        self.system = system
        # The registry maps kinds to classes; one class may serve several kinds.
        self.kind = system.kind
        self.config = system.config or {}

    def choice(self, name: str, choices: tuple[str, ...]) -> str:
        """``config[name]`` (default: the first choice); anything else is a permanent error."""
        value = self.config.get(name, choices[0])
        if value not in choices:
            allowed = " or ".join(repr(c) for c in choices)
            raise ConnectorError(
                f"{self.kind} systems: {name} must be {allowed}, not {value!r}", permanent=True
            )
        return value

    # Lifecycle -------------------------------------------------------------
    def close(self) -> None:
        """Release connections; called once per batch."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # Single credential -----------------------------------------------------
    def revoke(self, credential: Credential) -> None:
        raise NotImplementedError

    def is_active(self, credential: Credential) -> bool:
        raise NotImplementedError

    def list_accounts(self) -> list[Account]:
        raise NotImplementedError

    # Batches ---------------------------------------------------------------
    def revoke_many(self, credentials: Iterable[Credential]) -> dict[int, ConnectorError | None]:
        """Revoke each; map credential id to None (done) or the error it hit."""
        results: dict[int, ConnectorError | None] = {}
        for credential in credentials:
            try:
                self.revoke(credential)
                results[credential.pk] = None
            except ConnectorError as exc:
                results[credential.pk] = exc
        return results

    def still_active(self, credentials: Iterable[Credential]) -> set[int]:
        """Ids of the credentials the target still accepts (the verify read)."""
        return {c.pk for c in credentials if self.is_active(c)}


class BatchConnector(Connector):
    """For targets whose natural unit is the batch: one credential is a batch of one.

    Subclasses implement ``revoke_many`` and ``still_active``; the single-item
    methods go through them, so both paths share one implementation.
    """

    def revoke(self, credential: Credential) -> None:
        error = self.revoke_many([credential])[credential.pk]
        if error is not None:
            raise error

    def is_active(self, credential: Credential) -> bool:
        return credential.pk in self.still_active([credential])


def connector_for(system: System) -> Connector:
    """The connector for ``system``'s kind (see ``registry.CONNECTORS``), not yet connected."""
    try:
        cls = connector_class(system.kind)
    except KeyError:
        # A kind that left the registry (or never was in it): a person must change
        # the system's kind, so no retry can help.
        raise ConnectorError(
            f"Sundown has no connector for systems of kind {system.kind!r}", permanent=True
        ) from None
    return cls(system)
