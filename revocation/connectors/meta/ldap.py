"""LDAP directory entries: each setting the system form explains (read by
revocation.connectors.ldap), importable without the connector and its driver."""

from revocation.connectors.meta import KindMeta, Setting
from revocation.connectors.meta.directory import CONNECTION_HELP

META = KindMeta(
    config_help={
        **CONNECTION_HELP,
        "on_revoke": Setting(
            "disable keeps the entry but stops its binds; delete removes the entry; "
            "remove_groups takes the DN out of every matching group.",
            choices=("disable", "delete", "remove_groups"),
        ),
        "disable_method": Setting(
            "How disable works: password deletes every userPassword (works on any server); "
            "ppolicy sets pwdAccountLockedTime (only where the ppolicy overlay enforces it).",
            choices=("password", "ppolicy"),
        ),
        "group_base_dn": Setting("Where remove_groups looks for groups; base_dn when empty."),
        "group_filter": Setting("Which entries are groups; (objectClass=groupOfNames) when empty."),
        "member_attribute": Setting("Attribute that lists a group's members; member when empty."),
        "placeholder_member": Setting(
            "Member put into a group that would be left empty; cn=nobody when empty."
        ),
        "user_filter": Setting(
            "Which entries are accounts when listing them (reconciliation); "
            "(objectClass=inetOrgPerson) when empty."
        ),
    },
    secret_help="The password of bind_dn.",
    limits="LDAP has no sessions to end: a connection already bound as the account keeps "
    "its identity until it binds again.",
)
