"""Manual systems: each setting the system form explains (read by
revocation.connectors.manual), importable without the connector and its driver."""

from revocation.connectors.meta import KindMeta, Setting

META = KindMeta(
    config_help={
        "host": Setting("Where the system is, for the person who revokes (a record only)."),
        "port": Setting("Its port, for the record.", int),
        "url": Setting("Its address or console, for the record."),
    },
    secret_help="None: nothing connects to a manual system.",
    verifies=False,
)
