"""The connection settings LDAP and Active Directory share (revocation.connectors.directory
reads them), importable without ldap3."""

from revocation.connectors.meta import Setting

CONNECTION_HELP = {
    "url": Setting("ldaps://host:636 or ldap://host:389 (with start_tls); or host and port."),
    "host": Setting("Server host name or address, when no url is given."),
    "port": Setting("Server port, when no url is given; 389 (636 with TLS) when empty.", int),
    "use_ssl": Setting("With host and port: connect over TLS (ldaps; no when empty).", bool),
    "start_tls": Setting("Upgrade an ldap:// connection with StartTLS (no when empty).", bool),
    "bind_dn": Setting("DN Sundown binds as, e.g. cn=sundown,dc=agency,dc=example."),
    "base_dn": Setting(
        "Required. Every account Sundown touches must lie under it, e.g. "
        "ou=people,dc=agency,dc=example."
    ),
    "timeout": Setting("Seconds to wait for the server; 5 when empty.", int),
    "tls_ca": Setting(
        "PEM text of the CA certificates that issued the server's certificate; the "
        "workers' system trust store when empty (and no tls_ca_file).",
        multiline=True,
    ),
    "tls_ca_file": Setting("A PEM file of CA certificates on the workers, instead of tls_ca."),
    "tls_verify": Setting(
        "Check the server's certificate and host name (yes when empty). No skips both "
        "checks, and every page and API answer about the system says so.",
        bool,
    ),
}
