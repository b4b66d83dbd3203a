"""Which roles in which agencies an identity provider's claims give. Pure: no database.

The mapping is configuration (``SUNDOWN_OIDC_ROLE_MAPPING``), for example::

    {"sundown-health-officers": [{"agency": "health", "role": "security_officer"}],
     "sundown-auditors": [{"agency": "health", "role": "auditor"},
                          {"agency": "tax", "role": "auditor"}]}

A group the mapping does not name gives nothing; a user none of whose groups is named
is refused.
"""

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


class MappingError(ValueError):
    """The configured mapping is not of the documented shape."""


@dataclass(frozen=True, order=True)
class AgencyRole:
    """One role in one agency (by slug), as the mapping grants it."""

    agency: str
    role: str


RoleMapping = dict[str, frozenset[AgencyRole]]


def parse_mapping(raw: str | Mapping[str, Any], *, roles: Iterable[str]) -> RoleMapping:
    """Check and normalise the mapping; a wrong shape or an unknown role is an error."""
    known = set(roles)
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError as exc:
            raise MappingError(f"not valid JSON: {exc}") from None
    if not isinstance(raw, Mapping):
        raise MappingError('must be a JSON object: {"group": [{"agency": ..., "role": ...}]}')
    mapping: RoleMapping = {}
    for group, entries in raw.items():
        if not isinstance(group, str) or not group:
            raise MappingError("group names must be non-empty strings")
        if not isinstance(entries, list):
            raise MappingError(f"{group!r}: expected a list of {{agency, role}} objects")
        grants = set()
        for entry in entries:
            if not isinstance(entry, Mapping) or set(entry) != {"agency", "role"}:
                raise MappingError(f"{group!r}: each entry needs exactly 'agency' and 'role'")
            agency, role = entry["agency"], entry["role"]
            if not isinstance(agency, str) or not agency:
                raise MappingError(f"{group!r}: 'agency' must be an agency slug")
            if role not in known:
                raise MappingError(
                    f"{group!r}: unknown role {role!r}; choose one of {', '.join(sorted(known))}"
                )
            grants.add(AgencyRole(agency=agency, role=role))
        mapping[group] = frozenset(grants)
    return mapping


def claim_value(claims: Mapping[str, Any], path: str) -> Any:
    """A claim by name, or by a dotted path into nested objects (``realm_access.roles``)."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def groups_from_claims(claims: Mapping[str, Any], claim: str) -> list[str]:
    """The user's groups: a list of strings, or one string; anything else counts as none."""
    value = claim_value(claims, claim)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return sorted({item for item in value if isinstance(item, str)})
    return []


def grants_for(mapping: RoleMapping, groups: Iterable[str]) -> frozenset[AgencyRole]:
    """Every role in every agency that any of ``groups`` is mapped to."""
    granted: set[AgencyRole] = set()
    for group in groups:
        granted |= mapping.get(group, frozenset())
    return frozenset(granted)


def idp_mfa(
    claims: Mapping[str, Any], *, amr_values: Iterable[str], acr_values: Iterable[str]
) -> bool:
    """True when the ID token says a second factor was used (``amr`` or ``acr``)."""
    amr = claims.get("amr")
    if isinstance(amr, list) and set(amr) & set(amr_values):
        return True
    acr = claims.get("acr")
    return isinstance(acr, str) and acr in set(acr_values)
