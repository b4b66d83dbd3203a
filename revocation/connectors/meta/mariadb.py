"""MariaDB / MySQL accounts: each setting the system form explains (read by
revocation.connectors.mariadb), importable without the connector and its driver."""

from revocation.connectors.meta import KindMeta, Setting

META = KindMeta(
    config_help={
        "host": Setting("Server host name or address (allowed by the deployment's target list)."),
        "port": Setting("Server port; 3306 when empty.", int),
        "user": Setting(
            "Account Sundown logs in as (CREATE USER, PROCESS, CONNECTION ADMIN); root when empty."
        ),
        "timeout": Setting("Seconds to wait for a connection; 5 when empty.", int),
        "statement_timeout_ms": Setting(
            "Milliseconds a statement may run on the server; 10000 when empty.", int
        ),
        "lock_timeout_ms": Setting(
            "Milliseconds to wait for a lock (rounded up to seconds); 5000 when empty.", int
        ),
        "read_timeout": Setting(
            "Seconds to wait for an answer before the call fails; the statement timeout "
            "plus 2 when empty.",
            float,
        ),
        "on_revoke": Setting(
            "lock keeps the account and its grants but refuses every login; drop removes it.",
            choices=("lock", "drop"),
        ),
        "other_hosts": Setting(
            "For a user@host credential, the same user's accounts on other hosts: lock revokes "
            "them too, report leaves them and fails the credential naming them.",
            choices=("lock", "report"),
        ),
    },
    secret_help="The password of the account named in user.",
)
