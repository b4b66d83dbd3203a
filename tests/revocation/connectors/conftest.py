"""Target-server fixtures for the connector tests (see servers.py and samba_dc.py)."""

from tests.revocation.connectors.samba_dc import ad_system, samba_dc  # noqa: F401
from tests.revocation.connectors.servers import (  # noqa: F401
    htpasswd_file,
    htpasswd_system,
    ldap_system,
    mariadb_system,
    mariadb_users,
    nginx,
    redis_system,
    redis_users,
    scim_server,
    scim_system,
    scimmy_quirky_system,
    scimmy_server,
    scimmy_servers,
    scimmy_system,
    slapd,
    slapd_tls,
    ssh_system,
    sshd,
)
