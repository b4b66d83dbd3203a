"""Redis ACL users: each setting the system form explains (read by
revocation.connectors.redis), importable without the connector and its driver."""

from revocation.connectors.meta import KindMeta, Setting

META = KindMeta(
    config_help={
        "host": Setting("Server host name or address (allowed by the deployment's target list)."),
        "port": Setting("Server port; 6379 when empty.", int),
        "user": Setting("ACL user Sundown logs in as; default when empty."),
        "db": Setting("Database number to select; 0 when empty.", int),
        "ssl": Setting("Connect over TLS (no when empty).", bool),
        "timeout": Setting("Seconds to wait for the server; 5 when empty.", float),
        "on_revoke": Setting(
            "disable turns the user off and removes its passwords; delete removes the user.",
            choices=("disable", "delete"),
        ),
        "acl_save": Setting(
            "Run ACL SAVE after a change, when the server keeps its users in an ACL file, so "
            "the revocation survives a restart (no when empty).",
            bool,
        ),
    },
    secret_help="The password of the ACL user named in user.",
)
