"""What each kind's connector reads from ``system.config`` and tells people, without
the connector: the system form shows every kind's settings, and importing every
connector (psycopg2, PyMySQL, redis, ldap3, paramiko, the SCIM client...) only to read
their help cost seconds on a busy machine's first request to /systems/new/.

One module per kind (``meta/<kind>.py``, named by the registry entry) holds its
``META``; the connector class takes ``config_keys``, ``config_help``, ``secret_help``,
``limits`` and ``verifies`` from it, so there is one source. This package imports no
model and no driver (a test holds it to that).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    """One key of ``system.config``, as the system form shows it: the help text next to
    its field, its type (``str``, ``int``, ``float`` or ``bool``) and, for a fixed set
    of values, the values (the first is the default, as in ``Connector.choice``).
    ``multiline``: text of several lines (PEM certificates), up to
    ``access.system_config.MULTILINE_MAX`` characters, where every other text setting
    is one line of at most 1,000."""

    help: str
    type: type = str
    choices: tuple[str, ...] = ()
    multiline: bool = False


@dataclass(frozen=True)
class KindMeta:
    """A kind's settings (``config_help``: one entry per key its connector reads), what
    its secret is, what revoking there cannot do (said on the system's page), and
    whether the connector can read a revocation back (``verifies``: manual cannot)."""

    config_help: dict[str, Setting]
    secret_help: str = "None: this kind uses no secret."
    limits: str = ""
    verifies: bool = True

    @property
    def config_keys(self) -> frozenset[str]:
        return frozenset(self.config_help)
