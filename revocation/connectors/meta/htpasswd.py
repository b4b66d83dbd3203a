"""htpasswd file users: each setting the system form explains (read by
revocation.connectors.htpasswd), importable without the connector and its driver."""

from revocation.connectors.meta import KindMeta, Setting

META = KindMeta(
    config_help={
        "path": Setting(
            "Required. Absolute path of the file on the workers' file system, below one of the "
            "deployment's local target roots."
        ),
        "timeout": Setting(
            "Seconds to wait for another Sundown worker editing the same file; 5 when empty.",
            float,
        ),
        "on_revoke": Setting(
            "disable puts ! in front of the user's hash (the line stays); delete removes it.",
            choices=("disable", "delete"),
        ),
    },
)
