"""Exposure at a point in time, rebuilt from the audit trail alone.

"Which vendor credentials could reach system S (or any system holding citizen
records, or classified at least X) at time T, under which contracts, and what
happened after: revoked when, used after?" is the question an agency must answer
the day a breach is claimed. Today's rows cannot answer it: contracts were
extended, systems reclassified, credentials revoked since. So this replays the
events up to T (their before/after JSON) into the state of every system, vendor,
contract and credential at T, and then reads what the trail says happened to the
exposed credentials after T. It never reads the Credential, Contract or System
tables; every answer names the seqs it rests on, so an evidence pack can prove
each with an inclusion proof.

A credential "could reach" its system at T when it had been registered and was not
yet revoked: pending and failed revocations still leave the account usable.
"""

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet
from django.utils.dateparse import parse_date, parse_datetime

from audit.models import AuditEvent
from vendors.permissions import VIEW_AUDIT, restrict

CLASSIFICATIONS = ("public", "internal", "confidential", "restricted")
_TYPES = ("access.system", "access.credential", "vendors.contract", "vendors.vendor")
# States in which the account still works on the target.
EXPOSED_STATUSES = frozenset({"active", "pending", "failed"})
# Keys in a later event's ``after`` that say when an account was used.
_USAGE_KEYS = ("last_used_at", "used_at", "seen_at", "last_seen")
_CHUNK = 1000


def _when(value) -> dt.datetime | None:
    if not value:
        return None
    if isinstance(value, dt.datetime):
        return value
    parsed = parse_datetime(str(value))
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


@dataclass
class _Entity:
    """The state of one object at T: its fields as the trail recorded them."""

    id: str
    repr: str
    agency_id: int | None
    state: dict = field(default_factory=dict)
    seqs: list[int] = field(default_factory=list)
    created_at: dt.datetime | None = None


@dataclass
class ExposedCredential:
    """One credential that could reach a matching system at T, and what followed."""

    credential: dict
    vendor: dict
    system: dict
    status_at: str
    registered_at: dt.datetime | None
    contracts: list[dict]
    authorised_at: bool
    after: dict
    seqs: list[int]


@dataclass
class ExposureReport:
    """The answer for one time and one set of filters; ``as_dict`` is JSON-safe."""

    at: dt.datetime
    filters: dict
    head_seq: int  # the last event at or before T
    rows: list[ExposedCredential]

    @property
    def evidence_seqs(self) -> list[int]:
        """Every event the answer rests on (for inclusion proofs in an evidence pack)."""
        return sorted({seq for row in self.rows for seq in row.seqs})

    def as_dict(self) -> dict:
        def iso(value):
            return value.isoformat() if isinstance(value, dt.datetime) else value

        return {
            "at": iso(self.at),
            "filters": self.filters,
            "head_seq": self.head_seq,
            "count": len(self.rows),
            "unauthorised_count": sum(1 for r in self.rows if not r.authorised_at),
            "evidence_seqs": self.evidence_seqs,
            "credentials": [
                {
                    "credential": row.credential,
                    "vendor": row.vendor,
                    "system": row.system,
                    "status_at": row.status_at,
                    "registered_at": iso(row.registered_at),
                    "authorised_at": row.authorised_at,
                    "contracts": row.contracts,
                    "after": {k: iso(v) for k, v in row.after.items()},
                    "seqs": row.seqs,
                }
                for row in self.rows
            ],
        }


def _apply(entity: _Entity, event: Mapping[str, Any]) -> None:
    """Fold one event into the entity's state."""
    action = event["action"]
    before, after = event["before"] or {}, event["after"] or {}
    entity.seqs.append(event["seq"])
    entity.repr = event["target_repr"] or entity.repr
    verb = action.split(".", 1)[1] if "." in action else action
    if verb in ("created", "registered"):
        entity.state = dict(after)
        entity.created_at = event["occurred_at"]
        return
    # Every other change records the fields it changed in ``after``; status moves
    # (requested, failed, revoked, ended) record the new status there too. Words
    # that only describe the change (reason, trigger, ...) are kept apart.
    for key, value in after.items():
        if key in ("reason", "trigger", "error", "note", "by", "verified"):
            entity.state[f"_{key}"] = value
        else:
            entity.state[key] = value
    if "status" in before and "status" not in after:
        entity.state.setdefault("status", before["status"])


def _replay(events: QuerySet[AuditEvent], at: dt.datetime) -> tuple[dict, int]:
    state: dict[tuple[str, str], _Entity] = {}
    head = 0
    rows = (
        events.filter(occurred_at__lte=at, target_type__in=_TYPES)
        .order_by("seq")
        .values(
            "seq",
            "occurred_at",
            "action",
            "target_type",
            "target_id",
            "target_repr",
            "agency_id",
            "before",
            "after",
        )
    )
    for event in rows.iterator(chunk_size=5000):
        key = (event["target_type"], event["target_id"])
        entity = state.get(key)
        if entity is None:
            entity = state[key] = _Entity(
                id=event["target_id"], repr=event["target_repr"], agency_id=event["agency_id"]
            )
        _apply(entity, event)
        head = event["seq"]
    last = events.filter(occurred_at__lte=at).order_by("-seq").values_list("seq", flat=True)
    return state, max(head, last.first() or 0)


def _system_matches(system: dict, *, min_classification, citizen_records) -> bool:
    if min_classification:
        level = system.get("data_classification")
        if level not in CLASSIFICATIONS:
            return False
        if CLASSIFICATIONS.index(level) < CLASSIFICATIONS.index(min_classification):
            return False
    return not citizen_records or (system.get("estimated_records") or 0) > 0


def _contract_view(contract: _Entity | None, contract_id, at: dt.datetime) -> dict:
    if contract is None:
        return {"id": contract_id, "reference": None, "authorising": False, "known": False}
    state = contract.state
    ends = _when(state.get("access_ends_at"))
    starts = parse_date(str(state.get("start_date") or "")) if state.get("start_date") else None
    authorising = bool(ends and ends > at and (starts is None or starts <= at.date()))
    return {
        "id": int(contract.id),
        "reference": state.get("reference") or contract.repr,
        "start_date": state.get("start_date"),
        "end_date": state.get("end_date"),
        "access_ends_at": state.get("access_ends_at"),
        "status": state.get("status"),
        "authorising": authorising,
        "known": True,
    }


def _after(
    events: QuerySet[AuditEvent], credential_ids: list[str], head_seq: int, at: dt.datetime
) -> dict:
    """What the trail says happened to each credential after T."""
    later: dict[str, dict[str, Any]] = {
        cid: {"used_after": [], "seqs": []} for cid in credential_ids
    }
    columns = ("seq", "occurred_at", "action", "actor_name", "after")
    for start in range(0, len(credential_ids), _CHUNK):
        chunk = credential_ids[start : start + _CHUNK]
        rows = (
            events.filter(seq__gt=head_seq, target_type="access.credential", target_id__in=chunk)
            .order_by("seq")
            .values_list("target_id", *columns)
        )
        for target_id, *event in rows.iterator(chunk_size=5000):
            _note_after(later[target_id], *event)
    # Findings name the credential they are about in ``after`` (reconciliation, issue 11).
    findings = (
        events.filter(seq__gt=head_seq, action__startswith="finding.")
        .order_by("seq")
        .values_list(*columns)
    )
    for event in findings.iterator(chunk_size=5000):
        info = later.get(str((event[4] or {}).get("credential", "")))
        if info is not None:
            _note_after(info, *event)
    for info in later.values():
        used = {u for u in info["used_after"] if dt.datetime.fromisoformat(u) > at}
        info["used_after"] = sorted(used)
        revoked = info.get("revoked_at")
        info["used_after_revocation"] = bool(
            revoked and any(dt.datetime.fromisoformat(u) > revoked for u in info["used_after"])
        )
    return later


def _note_after(info: dict, seq, occurred_at, action, actor_name, after) -> None:
    after = after or {}
    info["seqs"].append(seq)
    if action == "credential.revocation_requested" and "revocation_requested_at" not in info:
        info["revocation_requested_at"] = occurred_at
        info["revocation_trigger"] = after.get("trigger", "")
        info["revocation_reason"] = after.get("reason", "")
    elif action == "credential.revocation_failed":
        info["failed_at"] = occurred_at
    elif action == "credential.revoked" and "revoked_at" not in info:
        info["revoked_at"] = occurred_at
        info["revoked_by"] = actor_name
        # Verified on the target, or a person's word (manual task, confirmation).
        info["revoked_verified"] = bool(after.get("verified", False))
    for key in _USAGE_KEYS:
        used = _when(after.get(key))
        if used is not None:
            info["used_after"].append(used.isoformat())
    if action.startswith("finding.") and str(after.get("kind", "")).startswith("used_after"):
        info["used_after"].append(occurred_at.isoformat())


def exposure_at(
    *,
    at: dt.datetime,
    user=None,
    agency_ids: Collection[int] | None = None,
    system_id: int | None = None,
    vendor_id: int | None = None,
    min_classification: str | None = None,
    citizen_records: bool = False,
) -> ExposureReport:
    """Credentials that could reach a matching system at ``at``, from the trail alone.

    ``user`` limits the events to the agencies where they may read the audit trail
    (through ``restrict``); commands and evidence packs pass ``agency_ids`` instead
    (None: every agency).
    """
    if min_classification and min_classification not in CLASSIFICATIONS:
        raise ValueError(f"unknown classification {min_classification!r}")
    events = AuditEvent.objects.all()
    if user is not None:
        events = restrict(events, user, VIEW_AUDIT)
    if agency_ids is not None:
        events = events.filter(agency_id__in=list(agency_ids))
    state, head_seq = _replay(events, at)
    systems = {k[1]: e for k, e in state.items() if k[0] == "access.system"}
    vendors = {k[1]: e for k, e in state.items() if k[0] == "vendors.vendor"}
    contracts = {k[1]: e for k, e in state.items() if k[0] == "vendors.contract"}
    matches: list[tuple[_Entity, _Entity | None]] = []
    for (kind, _cid), credential in state.items():
        if kind != "access.credential" or credential.created_at is None:
            continue
        cstate = credential.state
        if cstate.get("status", "active") not in EXPOSED_STATUSES:
            continue
        sid = str(cstate.get("system", ""))
        if system_id is not None and sid != str(system_id):
            continue
        if vendor_id is not None and str(cstate.get("vendor", "")) != str(vendor_id):
            continue
        system = systems.get(sid)
        if (min_classification or citizen_records) and (
            system is None
            or not _system_matches(
                system.state,
                min_classification=min_classification,
                citizen_records=citizen_records,
            )
        ):
            continue
        matches.append((credential, system))
    later = _after(events, [c.id for c, _ in matches], head_seq, at)
    rows = [_row(c, s, vendors, contracts, later[c.id], at) for c, s in matches]
    rows.sort(key=lambda r: (r.system.get("name") or "", r.credential.get("external_id") or ""))
    filters = {
        "system": system_id,
        "vendor": vendor_id,
        "min_classification": min_classification,
        "citizen_records": citizen_records,
    }
    return ExposureReport(at=at, filters=filters, head_seq=head_seq, rows=rows)


def _row(credential, system, vendors, contracts, later, at) -> ExposedCredential:
    cstate = credential.state
    vendor = vendors.get(str(cstate.get("vendor", "")))
    contract_ids = [str(c) for c in cstate.get("contracts") or []]
    contract_views = [_contract_view(contracts.get(c), int(c), at) for c in contract_ids]
    sstate = system.state if system else {}
    seqs = set(credential.seqs) | set(later.pop("seqs"))
    for entity in (system, vendor, *(contracts.get(c) for c in contract_ids)):
        if entity is not None:
            seqs.update(entity.seqs)
    return ExposedCredential(
        credential={
            "id": int(credential.id),
            "external_id": cstate.get("external_id"),
            "kind": cstate.get("kind"),
            "holder": cstate.get("holder", ""),
            "privileges": cstate.get("privileges", ""),
        },
        vendor={
            "id": cstate.get("vendor"),
            "name": (vendor.state.get("name") or vendor.repr) if vendor else None,
        },
        system={
            "id": cstate.get("system"),
            "name": sstate.get("name") or (system.repr if system else None),
            "kind": sstate.get("kind"),
            "lifecycle": sstate.get("lifecycle"),
            "data_classification": sstate.get("data_classification"),
            "estimated_records": sstate.get("estimated_records"),
        },
        status_at=cstate.get("status", "active"),
        registered_at=credential.created_at,
        contracts=contract_views,
        authorised_at=any(c["authorising"] for c in contract_views),
        after=later,
        seqs=sorted(seqs),
    )


def exposure_for_pack(*, vendor_id: int, at: dt.datetime, agency_ids: Iterable[int] | None = None):
    """The vendor's exposure at ``at`` as a JSON-safe dict, for evidence packs."""
    ids = list(agency_ids) if agency_ids is not None else None
    return exposure_at(at=at, vendor_id=vendor_id, agency_ids=ids).as_dict()
