"""Roles and agency-scoped object permissions, shared by the API and the dashboard.

A user's rights are django-guardian object permissions on ``Agency`` rows. A
role is a named bundle of those permissions; granting a role in an agency
assigns the bundle on that agency object and puts the user in the role's group.
Every query for agency-owned data goes through ``restrict``.

``AGENCY_OWNER`` is the one table of which agency owns a row. ``restrict``,
``agency_id_of``, ``has_agency_perm``, the API's object checks and its ``agency``
filters all read it; a new agency-owned model is added there and nowhere else.
"""

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import Exists, Model, QuerySet
from guardian.shortcuts import assign_perm, get_objects_for_user, get_perms, remove_perm
from guardian.utils import get_group_obj_perms_model, get_user_obj_perms_model

from vendors.models import Agency

VIEW = "vendors.view_agency"
MANAGE_VENDORS = "vendors.manage_vendors"
MANAGE_CONTRACTS = "vendors.manage_contracts"
MANAGE_INVENTORY = "vendors.manage_inventory"
REVOKE = "vendors.revoke_access"
VIEW_AUDIT = "vendors.view_audit"
AGENCY_PERMS = (VIEW, MANAGE_VENDORS, MANAGE_CONTRACTS, MANAGE_INVENTORY, REVOKE, VIEW_AUDIT)

ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "security_officer": (VIEW, MANAGE_VENDORS, MANAGE_INVENTORY, REVOKE, VIEW_AUDIT),
    "procurement": (VIEW, MANAGE_VENDORS, MANAGE_CONTRACTS),
    "auditor": (VIEW, VIEW_AUDIT),
    "integration": (VIEW, MANAGE_VENDORS, MANAGE_CONTRACTS, MANAGE_INVENTORY),
}
ROLES = tuple(ROLE_PERMISSIONS)

# Per agency-owned model: the ORM path from a row to its agency's id. Paths end in a
# column (``agency_id``), so an object check reads ids already loaded instead of
# fetching the Agency; revocation rows follow their system, like credentials.
AGENCY_OWNER: dict[str, str] = {
    "vendors.agency": "pk",
    "vendors.vendor": "agency_id",
    "vendors.contract": "vendor__agency_id",
    "access.system": "agency_id",
    "access.credential": "system__agency_id",
    "revocation.revocationattempt": "system__agency_id",
    "revocation.manualtask": "system__agency_id",
    "audit.auditevent": "agency_id",
    "findings.finding": "system__agency_id",
    "findings.reconciliationrun": "system__agency_id",
    "findings.reconcileschedule": "system__agency_id",
    "findings.accountpattern": "vendor__agency_id",
    "findings.findingpolicy": "agency_id",
    "findings.vendornetwork": "vendor__agency_id",
    "findings.usageevent": "system__agency_id",
    "reviews.reviewcampaign": "agency_id",
    "reviews.reviewitem": "campaign__agency_id",
    "reviews.reviewschedule": "agency_id",
    "reviews.rosterattestation": "vendor__agency_id",
    "jobs.job": "agency_id",
}


def agency_path(model: type[Model] | Model) -> str:
    """The path from ``model``'s rows to their agency id (KeyError: not agency-owned)."""
    return AGENCY_OWNER[model._meta.label_lower]


def owner_relations(model: type[Model] | Model) -> tuple[str, ...]:
    """``select_related`` arguments that make ``agency_id_of`` free for ``model``'s rows."""
    relation = agency_path(model).rpartition("__")[0]
    return (relation,) if relation else ()


def agencies_for(user, perm: str = VIEW) -> QuerySet[Agency]:
    """Agencies in which ``user`` holds ``perm`` (superusers: all)."""
    if not user or not user.is_authenticated or not user.is_active:
        return Agency.objects.none()
    # A bare codename: guardian takes the content type from Agency (cached by Django)
    # instead of looking it up for every permission name it has not seen yet.
    codename = perm.removeprefix("vendors.")
    return get_objects_for_user(user, codename, klass=Agency, accept_global_perms=False)


def agency_ids_for(user, perm: str = VIEW) -> list[int]:
    """The ids of ``agencies_for(user, perm)``, read now.

    For a request that both decides whether the user may list at all and filters the
    list by these agencies (``within``): read once, and the list's own statements carry a
    short list of ids instead of guardian's subquery, which every statement would
    otherwise compile and plan again. The read is guardian's query for one permission on
    one model (direct object permissions, then those of the user's groups; superusers
    hold every agency) written out as SQL: building it through guardian and the ORM took
    longer than the rest of a list request's permission work together. tests/vendors
    holds the two equal.
    """
    if not user or not user.is_authenticated or not user.is_active:
        return []
    if user.is_superuser:
        return list(Agency.objects.values_list("pk", flat=True))
    # Direct-foreign-key permission tables (guardian's other layout) go through guardian.
    # Its stubs ask for an instance; it reads the class.
    user_perms: Any = get_user_obj_perms_model(Agency)  # type: ignore[arg-type]
    group_perms: Any = get_group_obj_perms_model(Agency)  # type: ignore[arg-type]
    if not (user_perms.objects.is_generic() and group_perms.objects.is_generic()):
        return list(agencies_for(user, perm).values_list("pk", flat=True))
    memberships = get_user_model().groups.through._meta.db_table
    sql = f"""
        SELECT agency.id FROM {Agency._meta.db_table} agency
        WHERE CAST(agency.id AS VARCHAR(20)) IN (
            SELECT held.object_pk FROM {user_perms._meta.db_table} held
            JOIN {Permission._meta.db_table} perm ON perm.id = held.permission_id
            WHERE held.user_id = %(user)s AND perm.content_type_id = %(type)s
              AND perm.codename = %(codename)s
            UNION
            SELECT held.object_pk FROM {group_perms._meta.db_table} held
            JOIN {Permission._meta.db_table} perm ON perm.id = held.permission_id
            JOIN {memberships} member ON member.group_id = held.group_id
            WHERE member.user_id = %(user)s AND perm.content_type_id = %(type)s
              AND perm.codename = %(codename)s
        )
    """
    params = {
        "user": user.pk,
        "type": ContentType.objects.get_for_model(Agency).pk,
        "codename": perm.removeprefix("vendors."),
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def restrict(queryset: QuerySet, user, perm: str = VIEW) -> QuerySet:
    """Limit ``queryset`` to rows of agencies where ``user`` holds ``perm``."""
    return within(queryset, agencies_for(user, perm).values("pk"))


def within(queryset: QuerySet, agency_ids) -> QuerySet:
    """Limit ``queryset`` to rows of ``agency_ids``: ids that came from ``agencies_for``,
    for a page that reads many tables of the same agencies."""
    return queryset.filter(**{f"{agency_path(queryset.model)}__in": agency_ids})


def agency_id_of(obj: Model) -> int | None:
    """The id of the agency that owns ``obj``."""
    value: object = obj
    for part in agency_path(obj).split("__"):
        value = getattr(value, part)
        if value is None:
            return None
    assert isinstance(value, int), f"{agency_path(obj)} does not end in an agency id"
    return value


def has_agency_perm(user, perm: str, obj: Model) -> bool:
    """True when ``user`` holds ``perm`` in the agency that owns ``obj``."""
    agency_id = agency_id_of(obj)
    if agency_id is None:
        return False
    return agencies_for(user, perm).filter(pk=agency_id).exists()


def perms_held_anywhere(user) -> frozenset[str]:
    """The agency permissions ``user`` holds in at least one agency.

    For deciding which links to show; rows are still filtered by ``restrict``. Built
    from the same ``agencies_for`` as ``restrict``, so the two cannot disagree: one
    query, one EXISTS per permission.
    """
    if not user or not user.is_authenticated or not user.is_active:
        return frozenset()
    if user.is_superuser:
        return frozenset(AGENCY_PERMS)
    flags = {f"holds_{i}": Exists(agencies_for(user, perm)) for i, perm in enumerate(AGENCY_PERMS)}
    users = get_user_model()._default_manager.filter(pk=user.pk)
    row = users.annotate(**flags).values_list(*flags).first()
    return frozenset(perm for perm, held in zip(AGENCY_PERMS, row or (), strict=False) if held)


def role_grant(*, user, agency: Agency, role: str) -> None:
    """Give ``user`` the role's permissions in ``agency`` (see vendors.services)."""
    if role not in ROLE_PERMISSIONS:
        raise ValueError(f"Unknown role {role!r}; choose one of {', '.join(ROLES)}")
    group, _ = Group.objects.get_or_create(name=role)
    user.groups.add(group)
    for perm in ROLE_PERMISSIONS[role]:
        assign_perm(perm, user, agency)


def role_revoke(*, user, agency: Agency, role: str) -> None:
    for perm in ROLE_PERMISSIONS[role]:
        remove_perm(perm, user, agency)


def roles_of(user, agency: Agency) -> list[str]:
    held = {f"vendors.{p}" for p in get_perms(user, agency)}
    return [role for role, perms in ROLE_PERMISSIONS.items() if set(perms) <= held]
