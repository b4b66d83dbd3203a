"""SSH keys in authorized_keys: each setting the system form explains (read by
revocation.connectors.ssh), importable without the connector and its driver."""

from revocation.connectors.meta import KindMeta, Setting

META = KindMeta(
    config_help={
        "host": Setting(
            "Required. Host name or address (allowed by the deployment's target list)."
        ),
        "port": Setting("SSH port; 22 when empty.", int),
        "user": Setting("Required. Account Sundown logs in as (root, or account itself)."),
        "account": Setting("Account whose authorized_keys holds the vendor keys; user when empty."),
        "authorized_keys": Setting(
            "Path of the keys file; ~account/.ssh/authorized_keys when empty."
        ),
        "timeout": Setting("Seconds to wait for the host; 5 when empty.", float),
        "on_revoke": Setting(
            "remove deletes the key's lines from authorized_keys; krl adds the key to the "
            "revoked-keys list named in krl_path.",
            choices=("remove", "krl"),
        ),
        "krl_path": Setting("With krl: the file sshd's RevokedKeys names."),
        "end_sessions": Setting(
            "key ends the sessions opened with the key (needs ExposeAuthInfo yes); account ends "
            "every process of the account; none ends nothing.",
            choices=("key", "account", "none"),
        ),
        "host_key": Setting(
            "Required. The server's public host key line (ssh-ed25519 AAAA...), as in "
            "/etc/ssh/ssh_host_ed25519_key.pub; a different key is refused."
        ),
    },
    secret_help="The private key Sundown logs in with (OpenSSH or PEM text, unencrypted).",
)
