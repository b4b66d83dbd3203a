"""Writes for systems and credentials. Each writes its audit event in its transaction.

A credential's status is the revocation engine's (revocation.services), including a
person's confirmation that access is already gone (``credential_confirm_revoked``).
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.functions import Now

from access.crypto import encrypt
from access.models import Credential, System
from access.system_config import destination_of, system_config_check
from audit.actor import Actor
from audit.models import ActorType
from audit.services import audit_record, changed, snapshot
from config.modeling import save_validated, set_fields
from vendors.models import Agency, Contract, Vendor

SYSTEM_FIELDS = (
    "agency",
    "name",
    "kind",
    "config",
    "lifecycle",
    "data_classification",
    "estimated_records",
    "owner",
    "owner_email",
)
SYSTEM_EDITABLE = tuple(f for f in SYSTEM_FIELDS if f not in ("agency",))
CREDENTIAL_FIELDS = (
    "vendor",
    "system",
    "contracts",
    "kind",
    "external_id",
    "holder",
    "privileges",
    "status",
    "issued_at",
    "expires_at",
)
CREDENTIAL_EDITABLE = ("holder", "privileges", "issued_at", "expires_at", "last_used_at")
_UNSET = object()


def _system_snapshot(system: System) -> dict:
    # The secret itself never enters the audit trail; only whether one is set.
    return {**snapshot(system, SYSTEM_FIELDS), "has_secret": system.has_secret}


def system_create(
    *, actor: Actor, agency: Agency, name: str, kind: str, secret: str = "", **fields
) -> System:
    system = System(agency=agency, name=name, kind=kind)
    set_fields(system, fields, SYSTEM_EDITABLE)
    if system.config is None:
        system.config = {}
    system_config_check(system.kind, system.config)
    if secret:
        system.secret_encrypted = encrypt(secret)
    with transaction.atomic():
        save_validated(system)
        audit_record(
            actor=actor,
            action="system.created",
            target=system,
            agency_id=agency.pk,
            after=_system_snapshot(system),
        )
    return system


def system_update(*, actor: Actor, system: System, secret=_UNSET, **changes) -> System:
    """Change a system; ``secret=""`` clears the stored secret, omitted keeps it.

    Pointing the system elsewhere (kind, host, port, url, user, TLS...) clears the
    stored secret unless a new one comes in the same call: whoever may edit the
    config must not be able to send the old secret to a host of their choosing.
    """
    with transaction.atomic():
        system = System.objects.select_for_update().get(pk=system.pk)
        before = _system_snapshot(system)
        old_destination = _destination(system)
        if changes.get("config", system.config) is None:
            changes["config"] = {}
        set_fields(system, changes, SYSTEM_EDITABLE)
        if "config" in changes or "kind" in changes:
            system_config_check(system.kind, system.config)
        new_destination = _destination(system)
        moved = new_destination != old_destination
        secret_changed = secret is not _UNSET
        if secret_changed:
            system.secret_encrypted = encrypt(secret) if secret else ""
        elif moved and system.secret_encrypted:
            system.secret_encrypted = ""
            secret_changed = True
        after = _system_snapshot(system)
        if before == after and not secret_changed:
            return system
        save_validated(system)
        old, new = changed(before, after)
        if secret_changed:
            new["secret"] = "replaced" if system.secret_encrypted else "cleared"
        audit_record(
            actor=actor,
            action="system.updated",
            target=system,
            agency_id=system.agency_id,
            before=old,
            after=new,
        )
        if (
            before["lifecycle"] != System.Lifecycle.DECOMMISSIONED
            and system.lifecycle == System.Lifecycle.DECOMMISSIONED
        ):
            # A decommissioned system keeps no vendor access: every live credential
            # on it is revoked (and reconciliation flags any account seen there later).
            # That is a revocation like the kill switch: the inventory permission alone
            # must not be a way to revoke every account on a system.
            live = Credential.objects.filter(
                system=system, status__in=(Credential.Status.ACTIVE, Credential.Status.FAILED)
            ).count()
            if live and not _may_revoke(actor, system):
                raise ValidationError(
                    {
                        "lifecycle": f"Decommissioning revokes the {live} live credential"
                        f"{'s' if live != 1 else ''} on this system, which needs the revoke "
                        "permission."
                    }
                )
            from revocation.services.requests import request_revocation

            request_revocation(
                actor=actor,
                queryset=Credential.objects.filter(system=system),
                reason=f"System {system.name} was decommissioned.",
                trigger="system_decommissioned",
            )
        if moved:
            # Its own event, so a reviewer (or a SIEM rule) can watch for exactly this.
            audit_record(
                actor=actor,
                action="system.destination_changed",
                target=system,
                agency_id=system.agency_id,
                before={**old_destination, "has_secret": before["has_secret"]},
                after={**new_destination, "has_secret": system.has_secret},
            )
    return system


def _destination(system: System) -> dict:
    return destination_of(system.kind, system.config if isinstance(system.config, dict) else {})


def _may_revoke(actor: Actor, system: System) -> bool:
    """Operators' commands (system actors) may; a person or token needs REVOKE there."""
    from vendors.permissions import REVOKE, has_agency_perm

    if actor.type == ActorType.SYSTEM:
        return True
    return actor.user is not None and has_agency_perm(actor.user, REVOKE, system)


def _check_credential_scope(
    actor: Actor, vendor: Vendor, system: System, contracts: list[Contract]
) -> None:
    errors: dict[str, str] = {}
    if not isinstance(vendor, Vendor):
        errors["vendor"] = "Choose an existing vendor."
    if not isinstance(system, System):
        errors["system"] = "Choose an existing system."
    if errors:
        raise ValidationError(errors)
    if vendor.agency_id != system.agency_id:
        errors["system"] = "The system belongs to another agency than the vendor."
    elif system.lifecycle == System.Lifecycle.DECOMMISSIONED:
        errors["system"] = "The system is decommissioned; it cannot hold new credentials."
    if not contracts:
        errors["contracts"] = "Name at least one contract that authorises this access."
    elif any(c.vendor_id != vendor.pk for c in contracts):
        errors["contracts"] = "Every contract must belong to the credential's vendor."
    elif (
        not _may_revoke(actor, system)
        and not Contract.objects.filter(
            pk__in=[c.pk for c in contracts], access_ends_at__gt=Now()
        ).exists()
    ):
        # Access under only ended contracts is revoked by the next sweep: registering
        # it would let the inventory permission revoke any account on the target.
        errors["contracts"] = (
            "Every contract named has ended, so this access would be revoked at once, "
            "which needs the revoke permission. Name a contract that is still running."
        )
    if errors:
        raise ValidationError(errors)


def credential_register(
    *,
    actor: Actor,
    vendor: Vendor,
    system: System,
    contracts: list[Contract],
    kind: str,
    external_id: str,
    **fields,
) -> Credential:
    contracts = list(contracts)
    _check_credential_scope(actor, vendor, system, contracts)
    credential = Credential(vendor=vendor, system=system, kind=kind, external_id=external_id)
    set_fields(credential, fields, CREDENTIAL_EDITABLE)
    with transaction.atomic():
        save_validated(credential)
        credential.contracts.set(contracts)
        audit_record(
            actor=actor,
            action="credential.registered",
            target=credential,
            agency_id=system.agency_id,
            after=snapshot(credential, CREDENTIAL_FIELDS),
        )
        # Imported here: revocation's models import access's, so access loads first.
        from revocation.services.presence import credential_target_check_on_commit

        credential_target_check_on_commit(credential.pk)
    return credential


def credential_update(
    *, actor: Actor, credential: Credential, contracts=None, **changes
) -> Credential:
    with transaction.atomic():
        credential = (
            Credential.objects.select_for_update()
            .select_related("vendor", "system")
            .get(pk=credential.pk)
        )
        before = snapshot(credential, (*CREDENTIAL_FIELDS, "last_used_at"))
        set_fields(credential, changes, CREDENTIAL_EDITABLE)
        if contracts is not None:
            contracts = list(contracts)
            _check_credential_scope(actor, credential.vendor, credential.system, contracts)
        after = snapshot(credential, (*CREDENTIAL_FIELDS, "last_used_at"))
        if contracts is not None:
            after["contracts"] = sorted(c.pk for c in contracts)
        if before == after:
            return credential  # nothing to change, nothing to record
        save_validated(credential)
        if contracts is not None:
            credential.contracts.set(contracts)
        old, new = changed(before, after)
        audit_record(
            actor=actor,
            action="credential.updated",
            target=credential,
            agency_id=credential.system.agency_id,
            before=old,
            after=new,
        )
    return credential
