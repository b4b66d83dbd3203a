"""Test a system's connection: a read-only call through its connector, audited.

The dashboard's "Test connection" button asks the target for its account list (the
read reconciliation makes), so a person learns whether host, port, secret and rights
work before a revocation depends on them. Nothing on the target changes. The attempt
is audited (who sent the system's secret where, and what came back), after the call
and outside any transaction, since a slow target must not hold a database lock.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from access.models import System
from audit.actor import Actor
from audit.services import audit_record_standalone
from revocation.connectors.base import ConnectorError, connector_for

logger = logging.getLogger(__name__)

UNEXPECTED = "the connector failed unexpectedly; the server log has the details"


@dataclass(frozen=True)
class ConnectionCheck:
    """What a test showed: ``accounts`` listed when it worked, else the connector's error."""

    ok: bool
    accounts: int | None
    error: str
    duration_ms: int


def system_connection_test(*, actor: Actor, system: System) -> ConnectionCheck:
    started = time.monotonic()
    accounts: int | None = None
    error = ""
    try:
        with connector_for(system) as connector:
            if not connector.verifies:
                raise ConnectorError(
                    f"{system.get_kind_display()} systems have nothing to connect to",
                    permanent=True,
                )
            accounts = len(connector.list_accounts())
    except ConnectorError as exc:
        error = exc.message
    except Exception:  # a connector bug must not become a 500 on a read-only button
        logger.exception("connection test of system %s", system.pk)
        error = UNEXPECTED
    check = ConnectionCheck(
        ok=not error,
        accounts=accounts,
        error=error,
        duration_ms=round((time.monotonic() - started) * 1000),
    )
    audit_record_standalone(
        actor=actor,
        action="system.connection_tested",
        target=system,
        agency_id=system.agency_id,
        after={
            "ok": check.ok,
            "accounts": check.accounts,
            "error": check.error,
            "duration_ms": check.duration_ms,
        },
    )
    return check
