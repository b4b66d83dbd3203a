"""Evidence packs: one vendor's (or one contract's) trail, checkable offline by anyone.

A pack is a zip: ``manifest.json`` (vendor, contracts, every credential with when
it existed, when revocation was requested and verified, time to revoke against
the agency's policy, each fact pointing at the event that records it),
``events.jsonl`` (each event's canonical text, hash and RFC 6962 inclusion proof),
``checkpoint.txt`` (the signed checkpoint every proof leads to),
``verifier-key.txt``, a one-page ``certificate.html``, and any sections other
modules register (``evidence_section_register``, e.g. exposure at a point in
time). ``tools/sundown-verify`` checks one with nothing but Python and
``cryptography``.
"""

import base64
import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from access.models import Credential
from audit import merkle
from audit.actor import Actor
from audit.checkpoints import CheckpointError, checkpoint_create, checkpoint_parse
from audit.hashing import COLUMNS, format_time
from audit.models import AuditEvent, Checkpoint
from audit.services import audit_record
from audit.signing import signing_key
from audit.tree import Tree, event_leaf_data
from vendors.models import Contract, Vendor

FORMAT = "sundown-evidence-pack/1"


@dataclass
class EvidenceScope:
    """What one pack covers: a vendor, and either all its contracts or one."""

    vendor: Vendor
    contracts: list[Contract]
    credentials: list[Credential]
    contract: Contract | None = None

    @property
    def slug(self) -> str:
        if self.contract is not None:
            return f"contract-{self.contract.pk}"
        return f"vendor-{self.vendor.pk}"


_SECTIONS: dict[str, Callable[[EvidenceScope], object]] = {}


def evidence_section_register(name: str, builder: Callable[[EvidenceScope], object]) -> None:
    """Add ``<name>.json`` (whatever ``builder(scope)`` returns, as JSON) to every pack."""
    _SECTIONS[name] = builder


def scope_for_vendor(vendor: Vendor) -> EvidenceScope:
    contracts = list(vendor.contracts.order_by("start_date", "pk"))
    credentials = list(
        Credential.objects.filter(vendor=vendor).select_related("system").order_by("pk")
    )
    return EvidenceScope(vendor=vendor, contracts=contracts, credentials=credentials)


def scope_for_contract(contract: Contract) -> EvidenceScope:
    credentials = list(contract.credentials.select_related("system").order_by("pk"))
    return EvidenceScope(
        vendor=contract.vendor, contracts=[contract], credentials=credentials, contract=contract
    )


def _events(scope: EvidenceScope) -> list[dict]:
    query = Q(target_type="vendors.vendor", target_id=str(scope.vendor.pk))
    query |= Q(target_type="vendors.contract", target_id__in=[str(c.pk) for c in scope.contracts])
    query |= Q(
        target_type="access.credential", target_id__in=[str(c.pk) for c in scope.credentials]
    )
    rows = AuditEvent.objects.filter(query).order_by("seq").values_list(*COLUMNS)
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows]


def _fact(event: dict | None, **extra) -> dict | None:
    if event is None:
        return None
    return {"at": format_time(event["occurred_at"]), "seq": event["seq"], **extra}


def _policy_hours(trigger: str | None) -> int:
    if trigger == "kill_switch":
        return settings.SUNDOWN_KILL_SWITCH_POLICY_HOURS
    return settings.SUNDOWN_REVOCATION_POLICY_HOURS


def _credential_entry(credential: Credential, events: list[dict]) -> dict:
    mine = [e for e in events if e["target_type"] == "access.credential"]
    mine = [e for e in mine if e["target_id"] == str(credential.pk)]

    def first(action: str) -> dict | None:
        return next((e for e in mine if e["action"] == action), None)

    registered = first("credential.registered")
    requested = first("credential.revocation_requested")
    revoked = first("credential.revoked")
    trigger = (requested["after"] or {}).get("trigger") if requested else None
    entry = {
        "id": credential.pk,
        "system": credential.system.name,
        "system_kind": credential.system.kind,
        "kind": credential.kind,
        "external_id": credential.external_id,
        "holder": credential.holder,
        "status_now": credential.status,
        "existed_from": _fact(registered)
        or {"at": format_time(credential.created_at), "seq": None},
        "revocation_requested": _fact(
            requested,
            trigger=trigger,
            reason=(requested["after"] or {}).get("reason") if requested else None,
        ),
        "revoked": _fact(
            revoked,
            verified=bool((revoked["after"] or {}).get("verified")) if revoked else None,
            how=(revoked["after"] or {}).get("how") if revoked else None,
        ),
        "policy_hours": _policy_hours(trigger) if requested else None,
        "time_to_revoke_seconds": None,
        "within_policy": None,
    }
    if requested and revoked:
        seconds = (revoked["occurred_at"] - requested["occurred_at"]).total_seconds()
        entry["time_to_revoke_seconds"] = round(seconds, 3)
        entry["within_policy"] = seconds <= _policy_hours(trigger) * 3600
    return entry


def _checkpoint_covering(size: int) -> Checkpoint:
    latest = Checkpoint.objects.order_by("-size", "-id").first()
    if latest is not None and latest.size >= size:
        return latest
    return checkpoint_create()


class EvidenceError(Exception):
    """The trail cannot back a pack (it no longer matches its signed checkpoints)."""


@dataclass(frozen=True)
class EvidencePack:
    """A built pack, not yet handed to anyone (``evidence_pack_record`` audits that)."""

    name: str
    data: bytes
    events: int
    checkpoint_size: int


def evidence_pack_build(*, actor: Actor, scope: EvidenceScope) -> tuple[str, bytes]:
    """(file name, zip bytes) of the pack for ``scope``; audits that it was exported."""
    pack = evidence_pack_make(actor=actor, scope=scope)
    with transaction.atomic():
        evidence_pack_record(actor=actor, scope=scope, pack=pack)
    return pack.name, pack.data


def evidence_pack_record(*, actor: Actor, scope: EvidenceScope, pack: EvidencePack) -> None:
    """Audit that ``pack`` was exported, in the caller's transaction (the job that
    stores it for download records it with its own end)."""
    audit_record(
        actor=actor,
        action="audit.evidence_exported",
        target=scope.contract or scope.vendor,
        agency_id=scope.vendor.agency_id,
        after={"events": pack.events, "checkpoint_size": pack.checkpoint_size},
    )


def evidence_pack_make(
    *, actor: Actor, scope: EvidenceScope, progress: Callable[[int, int], None] | None = None
) -> EvidencePack:
    """The pack for ``scope``, written nowhere and audited by nobody yet. ``progress(done,
    total)`` hears of every hundredth of the events proved (the proofs are the work)."""
    events = _events(scope)
    try:
        checkpoint = _checkpoint_covering(events[-1]["seq"] if events else 0)
    except CheckpointError as exc:
        raise EvidenceError(str(exc)) from exc
    _, size, root = checkpoint_parse(checkpoint.note.split("\n\n")[0] + "\n")
    tree = Tree(size)
    lines = []
    step = max(1, len(events) // 100)
    for done, event in enumerate(events, start=1):
        data = event_leaf_data(event)
        index = event["seq"] - 1
        proof = tree.inclusion_proof(index)
        if not merkle.verify_inclusion(index, size, merkle.leaf_hash(data), proof, root):
            raise EvidenceError(f"seq {event['seq']} is not in the signed tree; run audit_verify")
        lines.append(
            json.dumps(
                {
                    "seq": event["seq"],
                    "leaf_index": index,
                    "canonical": data.decode(),
                    "hash": event["hash"],
                    "proof": [base64.b64encode(node).decode() for node in proof],
                },
                ensure_ascii=False,
            )
        )
        if progress is not None and done % step == 0:
            progress(done, len(events))
    now = timezone.now()
    credentials = [_credential_entry(c, events) for c in scope.credentials]
    vendor = scope.vendor
    files: dict[str, bytes] = {
        "events.jsonl": ("\n".join(lines) + "\n" if lines else "").encode(),
        "checkpoint.txt": checkpoint.note.encode(),
        "verifier-key.txt": (signing_key().verifier() + "\n").encode(),
    }
    for name, builder in _SECTIONS.items():
        files[f"{name}.json"] = json.dumps(builder(scope), indent=2, default=str).encode()
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    manifest: dict[str, object] = {
        "format": FORMAT,
        "generated_at": format_time(now),
        "generated_by": actor.name,
        "scope": {
            "vendor_id": vendor.pk,
            "contract_id": scope.contract.pk if scope.contract else None,
        },
        "vendor": {
            "id": vendor.pk,
            "legal_name": vendor.name,
            "risk_tier": vendor.risk_tier,
            "registration_number": vendor.registration_number,
            "agency": str(vendor.agency),
            "status_now": vendor.status,
        },
        "contracts": [
            {
                "id": c.pk,
                "reference": c.reference,
                "start_date": c.start_date.isoformat(),
                "end_date": c.end_date.isoformat(),
                "status_now": c.status,
            }
            for c in scope.contracts
        ],
        "credentials": credentials,
        "policy": {
            "revocation_hours": settings.SUNDOWN_REVOCATION_POLICY_HOURS,
            "kill_switch_hours": settings.SUNDOWN_KILL_SWITCH_POLICY_HOURS,
        },
        "checkpoint": {
            "file": "checkpoint.txt",
            "origin": checkpoint.note.split("\n", 1)[0],
            "size": size,
            "root": base64.b64encode(root).decode(),
        },
        "event_count": len(lines),
        "files": digests,
    }
    files["certificate.html"] = render_to_string(
        "audit/revocation_certificate.html",
        {"manifest": manifest, "credentials": credentials, "now": now, "scope": scope},
    ).encode()
    digests["certificate.html"] = hashlib.sha256(files["certificate.html"]).hexdigest()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
        for name, data in files.items():
            archive.writestr(name, data)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    return EvidencePack(
        name=f"sundown-evidence-{scope.slug}-{stamp}.zip",
        data=buffer.getvalue(),
        events=len(lines),
        checkpoint_size=size,
    )
