"""Target-server fixtures for the connector tests.

They live in servers.py, servers_scim.py, servers_local.py and samba_dc.py.
"""

from tests.revocation.connectors.samba_dc import ad_system, samba_dc  # noqa: F401
from tests.revocation.connectors.servers import (  # noqa: F401
    ldap_system,
    mariadb_system,
    mariadb_users,
    redis_system,
    redis_users,
    slapd,
    slapd_tls,
)
from tests.revocation.connectors.servers_local import (  # noqa: F401
    htpasswd_file,
    htpasswd_system,
    nginx,
    ssh_system,
    sshd,
)
from tests.revocation.connectors.servers_scim import (  # noqa: F401
    scim_server,
    scim_system,
    scimmy_quirky_system,
    scimmy_server,
    scimmy_servers,
    scimmy_system,
)
