"""The one list of target kinds: which kinds exist, their labels, and their connectors.

Everything that names kinds derives from ``CONNECTORS``: ``System.kind``'s
choices (and with them the dashboard's kind filter, the API's ``kind`` enum and
its OpenAPI schema), ``connector_for``, and the README's connector table (a test
holds it to this list). A kind is listed here only when its connector works
against a real target; a kind that is not listed is not offered anywhere, and
systems of such a kind fail with a permanent error instead of being revoked.

Connector classes are named by dotted path and imported on first use:
``access.models`` reads this module while Django loads the models, and the
connector modules import ``access.models``, so this module imports neither. What a
kind's settings mean (``connector_meta``) comes from ``meta/<kind>.py``, which
imports no connector and no driver: the system form reads every kind's.
Adding a connector: CONTRIBUTING.md, "Adding a connector".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import models
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from revocation.connectors.base import Connector
    from revocation.connectors.meta import KindMeta


@dataclass(frozen=True)
class ConnectorEntry:
    """One kind of target system: what people see, and the class that revokes on it."""

    label: str
    path: str


# Order is the order of every kind menu.
CONNECTORS: dict[str, ConnectorEntry] = {
    "postgres": ConnectorEntry("PostgreSQL", "revocation.connectors.postgres.PostgresConnector"),
    "mariadb": ConnectorEntry("MariaDB / MySQL", "revocation.connectors.mariadb.MariaDBConnector"),
    "redis": ConnectorEntry("Redis", "revocation.connectors.redis.RedisConnector"),
    "ldap": ConnectorEntry("LDAP directory", "revocation.connectors.ldap.LDAPConnector"),
    "ad": ConnectorEntry("Active Directory", "revocation.connectors.ad.ADConnector"),
    "scim": ConnectorEntry("SCIM 2.0 service", "revocation.connectors.scim.SCIMConnector"),
    "ssh": ConnectorEntry("SSH keys (authorized_keys)", "revocation.connectors.ssh.SSHConnector"),
    "htpasswd": ConnectorEntry(
        "htpasswd file (basic auth)", "revocation.connectors.htpasswd.HtpasswdConnector"
    ),
    "manual": ConnectorEntry(
        "Manual (a person revokes)", "revocation.connectors.manual.ManualConnector"
    ),
}


def kind_choices() -> list[tuple[str, str]]:
    """``(kind, label)`` pairs for model, form and serializer choices."""
    return [(kind, entry.label) for kind, entry in CONNECTORS.items()]


def kind_enum() -> Any:
    """``System.Kind``: a ``TextChoices`` with one member per kind (``System.Kind.POSTGRES``).

    Typed ``Any`` because its members come from ``CONNECTORS`` when the module
    loads, which a type checker cannot see.
    """
    functional: Any = models.TextChoices
    return functional("Kind", [(kind.upper(), (kind, e.label)) for kind, e in CONNECTORS.items()])


def connector_class(kind: str) -> type[Connector]:
    """The connector class for ``kind``; ``KeyError`` when Sundown has none."""
    return import_string(CONNECTORS[kind].path)


def connector_meta(kind: str) -> KindMeta:
    """What ``kind``'s settings mean (revocation.connectors.meta), without importing its
    connector; ``KeyError`` when Sundown has none."""
    CONNECTORS[kind]  # noqa: B018 - the same KeyError as connector_class
    return import_string(f"revocation.connectors.meta.{kind}.META")
