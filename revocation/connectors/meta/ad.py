"""Active Directory accounts: each setting the system form explains (read by
revocation.connectors.ad), importable without the connector and its driver."""

from revocation.connectors.meta import KindMeta, Setting
from revocation.connectors.meta.directory import CONNECTION_HELP

META = KindMeta(
    config_help={
        **CONNECTION_HELP,
        "url": Setting(
            "ldaps://dc.agency.example (AD refuses simple binds on plain ldap://: use "
            "ldaps:// or ldap:// with start_tls). Point it at the PDC emulator: other DCs "
            "see the change only after replication."
        ),
        "bind_dn": Setting(
            "The account Sundown binds as: a DN, sundown@agency.example or AGENCY\\sundown. "
            "Sundown never revokes it."
        ),
        "base_dn": Setting(
            "Required. The OU holding vendor accounts, e.g. OU=Vendors,DC=agency,DC=example; "
            "accounts elsewhere are not found."
        ),
        "on_revoke": Setting(
            "disable sets ACCOUNTDISABLE in userAccountControl (binds fail with data 533, "
            "kinit says revoked; Kerberos tickets already issued live out their lifetime); "
            "delete removes the account; remove_groups takes it out of every group under "
            "group_base_dn.",
            choices=("disable", "delete", "remove_groups"),
        ),
        "user_filter": Setting(
            "Which entries are accounts; (&(objectCategory=person)(objectClass=user)) when empty."
        ),
        "group_base_dn": Setting(
            "Groups remove_groups takes the account out of; base_dn when empty."
        ),
    },
    secret_help="The password of bind_dn.",
    limits="Active Directory: disabling stops new logons and ticket renewals, but Kerberos "
    "tickets already issued stay valid until they expire (10 hours by default), and "
    "other domain controllers accept the account until replication reaches them, and "
    "LDAP connections already bound as the account keep working until they bind again. "
    "Sundown reads the change back on the domain controller in url.",
)
