"""PostgreSQL roles: each setting the system form explains (read by
revocation.connectors.postgres), importable without the connector and its driver."""

from revocation.connectors.meta import KindMeta, Setting

META = KindMeta(
    config_help={
        "host": Setting("Server host name or address (allowed by the deployment's target list)."),
        "port": Setting("Server port; 5432 when empty.", int),
        "user": Setting("Role Sundown logs in as (needs CREATEROLE); postgres when empty."),
        "dbname": Setting("Database to connect to; postgres when empty."),
        "on_revoke": Setting(
            "nologin keeps the role but refuses every login; drop removes the role and "
            "reassigns what it owns.",
            choices=("nologin", "drop"),
        ),
        "revoke_memberships": Setting(
            "Also cut the roles that are members of a revoked role (yes when empty); with no, "
            "such a role fails for a person to resolve.",
            bool,
        ),
        "connect_timeout": Setting("Seconds to wait for a connection; 5 when empty.", int),
        "lock_timeout_ms": Setting("Milliseconds to wait for a lock; 5000 when empty.", int),
        "statement_timeout_ms": Setting(
            "Milliseconds before the server cancels a statement; 10000 when empty.", int
        ),
        "read_timeout": Setting(
            "Seconds before Sundown gives up on an answer; the statement timeout plus 2 "
            "when empty.",
            float,
        ),
    },
    secret_help="The password of the role named in user.",
)
