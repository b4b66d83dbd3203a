"""The one list of finding kinds: what each means, how severe it is by default, and
whether a person's "false positive" keeps later sightings of the same subject quiet.

``Finding.kind``'s choices, the API's ``kind`` enum and filter and the dashboard's
filter read this table, and the choices are a callable, so adding a kind needs no
migration. Other apps add their kinds with ``kind_register`` from their
``AppConfig.ready`` (or by a line here); a kind is never removed while findings of it
exist. Like the connector registry, this module imports no model.
"""

from __future__ import annotations

from dataclasses import dataclass


class Severity:
    """Severity codes, lowest first; ``RANK`` orders them (critical first on pages)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"
    CHOICES = [(LOW, "Low"), (MEDIUM, "Medium"), (HIGH, "High"), (CRITICAL, "Critical")]
    RANK = {LOW: 1, MEDIUM: 2, HIGH: 3, CRITICAL: 4}


@dataclass(frozen=True)
class FindingKind:
    """One kind of finding."""

    label: str
    severity: str
    description: str
    # True: a person's "false positive" on a subject covers later sightings of it (an
    # account the agency knows about stays quiet). False for kinds where a second
    # sighting is news however the first was judged (access that came back).
    suppressible: bool = True


FINDING_KINDS: dict[str, FindingKind] = {
    "orphan": FindingKind(
        "Orphan account",
        Severity.HIGH,
        "An account on the target that no credential in the registry names.",
    ),
    "drift": FindingKind(
        "Drift: revoked access is back",
        Severity.CRITICAL,
        "A credential Sundown revoked is active on the target again; it is revoked again.",
        suppressible=False,
    ),
    "not_found": FindingKind(
        "Registered credential not on the target",
        Severity.MEDIUM,
        "A registered, unrevoked credential whose account the target does not show.",
    ),
    "used_after_contract_end": FindingKind(
        "Used after contract end",
        Severity.CRITICAL,
        "A live session or login of an account whose every contract has ended.",
        suppressible=False,
    ),
    "used_after_revocation": FindingKind(
        "Used after revocation",
        Severity.CRITICAL,
        "A live session or login of an account Sundown revoked.",
        suppressible=False,
    ),
    "dormant": FindingKind(
        "Dormant access",
        Severity.MEDIUM,
        "Active access not used for longer than the agency's dormancy limit.",
    ),
    "max_age": FindingKind(
        "Older than the maximum age",
        Severity.MEDIUM,
        "Access older than the agency's maximum credential age.",
    ),
    "legacy_access": FindingKind(
        "Vendor access on a legacy system",
        Severity.HIGH,
        "Live vendor access on a system marked legacy.",
    ),
    "decommissioned_access": FindingKind(
        "Account on a decommissioned system",
        Severity.CRITICAL,
        "An account seen on a system marked decommissioned.",
        suppressible=False,
    ),
    "unexpected_source": FindingKind(
        "Login from an unexpected network",
        Severity.HIGH,
        "A login from outside the vendor's allowed source networks.",
    ),
    "volume_anomaly": FindingKind(
        "Unusual data volume",
        Severity.HIGH,
        "A transfer far above the vendor's usual volume.",
    ),
}


def kind_register(code: str, kind: FindingKind) -> None:
    """Add a kind (from another app's ``AppConfig.ready``); the same entry twice is fine."""
    if code in FINDING_KINDS and FINDING_KINDS[code] != kind:
        raise ValueError(f"finding kind {code!r} is already registered differently")
    if kind.severity not in Severity.RANK:
        raise ValueError(f"unknown severity {kind.severity!r}")
    FINDING_KINDS[code] = kind


def kind_choices() -> list[tuple[str, str]]:
    """``(kind, label)`` pairs for model, form, filter and serializer choices."""
    return [(code, kind.label) for code, kind in FINDING_KINDS.items()]


def kind_of(code: str) -> FindingKind:
    """The kind's entry; ``KeyError`` for a kind nobody registered."""
    return FINDING_KINDS[code]
