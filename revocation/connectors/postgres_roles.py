"""PostgreSQL's role graph: which roles can reach a role through memberships.

NOLOGIN alone leaves a role reachable: every role that is a member of it, directly or
through other roles, can ``SET ROLE`` to it and inherits its privileges. The
connector (postgres.py) reads that graph with one recursive query per batch,
revokes the direct grants (cutting every path through the role), and reports the
login roles that had a path.
"""

from __future__ import annotations

from collections.abc import Callable

from psycopg2 import sql

from config.pgarray import text_array

# (member, direct grant, member can log in)
Member = tuple[str, bool, bool]

# Every role with a path of memberships to one of the named roles, and whether the
# grant is direct (the ones to revoke) and the member can log in (the ones to report).
# The named roles are found through the catalog's name index first (``named``): joined
# straight to pg_auth_members, the planner walked every role of the cluster comparing
# each with the whole batch, ~200 ms for 1,000 names among 20,000 roles.
MEMBERS = """
WITH RECURSIVE named AS MATERIALIZED (
    SELECT oid, rolname FROM pg_roles WHERE rolname = ANY(%s::text[])
), m(root, member, direct) AS (
    SELECT n.rolname, a.member, TRUE
    FROM pg_auth_members a JOIN named n ON n.oid = a.roleid
  UNION
    SELECT m.root, a.member, FALSE FROM pg_auth_members a JOIN m ON a.roleid = m.member
)
SELECT m.root, u.rolname, bool_or(m.direct), u.rolcanlogin
FROM m JOIN pg_roles u ON u.oid = m.member
WHERE u.rolname <> session_user
GROUP BY m.root, u.rolname, u.rolcanlogin
ORDER BY 1, 2
"""


def members_of(query: Callable[..., list[tuple]], names: list[str]) -> dict[str, list[Member]]:
    """Per role: (member, direct, can log in) of every role with a path to it."""
    found: dict[str, list[Member]] = {name: [] for name in names}
    if names:
        for root, member, direct, login in query(MEMBERS, [text_array(names)]):
            found[root].append((member, direct, login))
    return found


def membership_revokes(name: str, members: dict[str, list[Member]]) -> list[sql.Composed]:
    """REVOKE of every direct grant of ``name``: what cuts every path through it."""
    role = sql.Identifier(name)
    return [
        sql.SQL("REVOKE {} FROM {}").format(role, sql.Identifier(member))
        for member, direct, _ in members.get(name, [])
        if direct
    ]


def reached_note(name: str, members: list[Member]) -> str | None:
    """What the credential.revoked event says about the login roles that had a path."""
    logins = sorted(m for m, _, login in members if login)
    if not logins:
        return None
    return (
        f"login roles {', '.join(logins)} could SET ROLE to {name!r} "
        "(directly or through other roles); the memberships were revoked "
        "and their sessions ended"
    )
