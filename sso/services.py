"""Single sign-on writes: just-in-time users, role sync from the IdP's groups, refusals.

For a user who signs in through the identity provider, the provider is the source of
truth for roles: each sign-in grants what the mapping gives and revokes every other role,
through the audited ``vendors.services`` role functions, in the sign-in's transaction.
"""

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone
from guardian.models import UserObjectPermission

from audit.actor import Actor
from audit.models import ActorType
from audit.services import audit_record
from sso.config import OidcConfig
from sso.mapping import AgencyRole, claim_value, grants_for, groups_from_claims, idp_mfa
from sso.mfa import idp_mfa_accepted_for
from sso.models import OidcIdentity
from vendors import permissions
from vendors.models import Agency
from vendors.services import agency_grant_role, agency_revoke_role

# Short codes kept in the audit trail; the refusal page words each for a person.
NO_MAPPED_GROUP = "no_mapped_group"
USERNAME_TAKEN = "username_taken"
ACCOUNT_DISABLED = "account_disabled"

_PROFILE_CLAIMS = (("email", "email"), ("first_name", "given_name"), ("last_name", "family_name"))


@dataclass(frozen=True)
class SignIn:
    """What became of one sign-in through the identity provider."""

    user: Any = None
    refusal: str = ""
    idp_mfa: bool = False
    idp_mfa_accepted: bool = False
    granted: list[dict] = field(default_factory=list)
    revoked: list[dict] = field(default_factory=list)


def _agency_roles(user, agency: Agency) -> list[str]:
    return permissions.roles_of(user, agency)


def _agencies_held(user) -> set[int]:
    ct = ContentType.objects.get_for_model(Agency)
    return {
        int(pk)
        for pk in UserObjectPermission.objects.filter(user=user, content_type=ct).values_list(
            "object_pk", flat=True
        )
    }


def roles_sync(*, actor: Actor, user, wanted: dict[Agency, set[str]]) -> tuple[list, list]:
    """Make ``user``'s roles exactly ``wanted``; returns (granted, revoked) as dicts.

    Roles overlap (a security officer holds every auditor permission), so a held role is
    only revoked when the wanted roles do not cover its permissions, the widest first,
    and wanted roles are granted afterwards: a second sign-in with the same groups changes
    nothing and writes no event.
    """
    granted: list[dict] = []
    revoked: list[dict] = []
    agencies = {a.pk: a for a in wanted}
    agencies.update(Agency.objects.in_bulk(_agencies_held(user) - set(agencies)))
    for agency in sorted(agencies.values(), key=lambda a: a.slug):
        roles = wanted.get(agency, set())
        covered = {p for role in roles for p in permissions.ROLE_PERMISSIONS[role]}
        while True:
            extra = [
                role
                for role in _agency_roles(user, agency)
                if role not in roles and not set(permissions.ROLE_PERMISSIONS[role]) <= covered
            ]
            if not extra:
                break
            role = max(extra, key=lambda r: (len(permissions.ROLE_PERMISSIONS[r]), r))
            agency_revoke_role(actor=actor, agency=agency, user=user, role=role)
            revoked.append({"agency": agency.slug, "role": role})
        held = set(_agency_roles(user, agency))
        for role in sorted(roles - held):
            agency_grant_role(actor=actor, agency=agency, user=user, role=role)
            granted.append({"agency": agency.slug, "role": role})
    return granted, revoked


def _wanted(grants: frozenset[AgencyRole]) -> tuple[dict[Agency, set[str]], list[str]]:
    by_slug = Agency.objects.in_bulk({g.agency for g in grants}, field_name="slug")
    wanted: dict[Agency, set[str]] = {}
    for grant in grants:
        if grant.agency in by_slug:
            wanted.setdefault(by_slug[grant.agency], set()).add(grant.role)
    return wanted, sorted({g.agency for g in grants} - set(by_slug))


def _refuse(actor: Actor, reason: str, target, details: dict) -> SignIn:
    audit_record(
        actor=actor, action="auth.oidc_refused", target=target, after={"reason": reason, **details}
    )
    return SignIn(refusal=reason)


def _username(config: OidcConfig, claims: dict[str, Any]) -> str:
    value = claim_value(claims, config.username_claim)
    return (value if isinstance(value, str) and value else str(claims["sub"]))[:150]


def oidc_sign_in(*, actor: Actor, config: OidcConfig, claims: dict[str, Any]) -> SignIn:
    """Sign in (or refuse) the person the verified ``claims`` describe; all of it audited.

    ``actor`` is the anonymous request (its address and request id); the role changes are
    recorded as made by ``system:oidc`` on that request.
    """
    subject = str(claims["sub"])
    username = _username(config, claims)
    groups = groups_from_claims(claims, config.groups_claim)
    mfa = idp_mfa(claims, amr_values=config.mfa_amr, acr_values=config.mfa_acr)
    who = Actor(
        type=ActorType.ANONYMOUS,
        name=username,
        source_ip=actor.source_ip,
        request_id=actor.request_id,
    )
    mapper = Actor(
        type=ActorType.SYSTEM,
        name="system:oidc",
        source_ip=actor.source_ip,
        request_id=actor.request_id,
    )
    details = {"issuer": config.issuer, "subject": subject, "groups": groups}
    with transaction.atomic():
        wanted, unknown_agencies = _wanted(grants_for(config.mapping, groups))
        if unknown_agencies:
            details["unknown_agencies"] = unknown_agencies
        identity = (
            OidcIdentity.objects.select_for_update()
            .select_related("user")
            .filter(issuer=config.issuer, subject=subject)
            .first()
        )
        if identity is None:
            if not wanted:
                return _refuse(who, NO_MAPPED_GROUP, ("auth.user", "", username), details)
            User = get_user_model()
            if User.objects.filter(username=username).exists():
                return _refuse(who, USERNAME_TAKEN, ("auth.user", "", username), details)
            user = User(username=username)
            user.set_unusable_password()
            user.save()
            identity = OidcIdentity.objects.create(user=user, issuer=config.issuer, subject=subject)
            audit_record(
                actor=mapper,
                action="auth.oidc_user_created",
                target=("auth.user", user.pk, username),
                after={"issuer": config.issuer, "subject": subject},
            )
        user = identity.user
        target = ("auth.user", user.pk, user.get_username())
        if not user.is_active:
            return _refuse(who, ACCOUNT_DISABLED, target, details)
        granted, revoked = roles_sync(actor=mapper, user=user, wanted=wanted)
        if not wanted:
            details["revoked"] = revoked
            return _refuse(who, NO_MAPPED_GROUP, target, details)
        _profile_update(user, claims)
        identity.last_sign_in_at = timezone.now()
        identity.save(update_fields=["last_sign_in_at"])
        accepted = mfa and idp_mfa_accepted_for(user)
        audit_record(
            actor=Actor.for_user(user, source_ip=actor.source_ip, request_id=actor.request_id),
            action="auth.oidc_signed_in",
            target=target,
            after={
                **details,
                "amr": claims.get("amr"),
                "acr": claims.get("acr"),
                "idp_mfa": mfa,
                "idp_mfa_accepted": accepted,
                "granted": granted,
                "revoked": revoked,
            },
        )
    return SignIn(
        user=user,
        idp_mfa=mfa,
        idp_mfa_accepted=accepted,
        granted=granted,
        revoked=revoked,
    )


def _profile_update(user: AbstractBaseUser, claims: dict[str, Any]) -> None:
    changes = []
    for attr, claim in _PROFILE_CLAIMS:
        value = claims.get(claim)
        if isinstance(value, str) and getattr(user, attr) != value[:150]:
            setattr(user, attr, value[:150])
            changes.append(attr)
    if changes:
        user.save(update_fields=changes)
