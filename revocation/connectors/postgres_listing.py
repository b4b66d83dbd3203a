"""PostgreSQL accounts for reconciliation and the "never there" check.

Every role but PostgreSQL's own ``pg_*`` ones, with whether it can log in and its
sessions (``pg_stat_activity``, cluster-wide like roles) in the same read. Role names
are case-sensitive: ``missing`` matches exactly and names other spellings as close
matches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from access.models import Credential
from config.pgarray import text_array
from revocation.connectors.base import Account, close_matches


def accounts(query: Callable[..., list[tuple]]) -> list[Account]:
    rows = query(
        "SELECT r.rolname, r.rolcanlogin, r.rolsuper, s.n, s.sources "
        "FROM pg_roles r LEFT JOIN ("
        "  SELECT usename, count(*) AS n,"
        "         array_remove(array_agg(DISTINCT host(client_addr)), NULL) AS sources"
        "  FROM pg_stat_activity WHERE usename IS NOT NULL GROUP BY usename"
        ") s ON s.usename = r.rolname "
        "WHERE r.rolname !~ '^pg_' ORDER BY r.rolname"
    )
    return [
        Account(
            external_id=name,
            active=login,
            detail="superuser" if sup else "",
            sessions=n or 0,
            sources=tuple(sources or ()),
        )
        for name, login, sup, n, sources in rows
    ]


def missing(
    query: Callable[..., list[tuple]], credentials: Iterable[Credential]
) -> dict[int, list[str]]:
    credentials = list(credentials)
    if not credentials:
        return {}
    # Role names are case-sensitive ("PEER_Case" is not peer_case): exact match
    # decides, read through the catalog's name index. Only names not there exactly
    # are read again case-folded (a scan of every role), to find what a person may
    # have meant.
    wanted = sorted({c.external_id for c in credentials})
    present = {
        row[0]
        for row in query(
            "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s::text[])", [text_array(wanted)]
        )
    }
    absent = [c for c in credentials if c.external_id not in present]
    if not absent:
        return {}
    rows = query(
        "SELECT rolname FROM pg_roles WHERE lower(rolname) = ANY(%s::text[])",
        [text_array(sorted({c.external_id.lower() for c in absent}))],
    )
    names = [row[0] for row in rows]
    return {c.pk: close_matches(c.external_id, names) for c in absent}
