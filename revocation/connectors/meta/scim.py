"""SCIM 2.0 users: each setting the system form explains (read by
revocation.connectors.scim), importable without the connector and its driver."""

from revocation.connectors.meta import KindMeta, Setting

META = KindMeta(
    config_help={
        "url": Setting("Required. The service's SCIM base, e.g. https://idp.example/scim/v2."),
        "timeout": Setting("Seconds to wait for the service; 10 when empty.", float),
        "on_revoke": Setting(
            "deactivate sets active=false (the account and its history stay); delete removes "
            "the user.",
            choices=("deactivate", "delete"),
        ),
    },
    secret_help="The bearer token sent to the service (empty: no Authorization header).",
)
