"""One module per target kind; importing this package registers them all.

Add a module's import below when you add a connector.
"""

from revocation.connectors import ldap, manual, mariadb, postgres, redis, scim  # noqa: F401
