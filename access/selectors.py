"""Reads of target systems and credentials, for the API and the dashboard.

Functions that take a ``user`` go through ``restrict``; those that take a system,
vendor, contract or credential read below an object the caller has already
fetched through one of them.
"""

from collections.abc import Collection

from django.db.models import BooleanField, Count, F, Func, Prefetch, QuerySet

from access.models import Credential, System
from vendors.models import Contract, Vendor
from vendors.permissions import VIEW, restrict


def system_list(*, user, perm: str = VIEW) -> QuerySet[System]:
    return restrict(System.objects.all(), user, perm)


def system_get(*, user, pk: int, perm: str = VIEW) -> System | None:
    """The system, with agency and owner, if ``user`` holds ``perm`` in its agency."""
    return system_list(user=user, perm=perm).select_related("agency", "owner").filter(pk=pk).first()


def system_search(
    *, user, q: str = "", lifecycle: str = "", data_classification: str = "", kind: str = ""
) -> QuerySet[System]:
    qs = system_list(user=user).select_related("agency")
    if q:
        qs = qs.filter(name__icontains=q)
    if lifecycle:
        qs = qs.filter(lifecycle=lifecycle)
    if data_classification:
        qs = qs.filter(data_classification=data_classification)
    if kind:
        qs = qs.filter(kind=kind)
    return qs.order_by("agency__name", "name")


def system_page_stats(systems: list[System]) -> None:
    """Credential counts by status for one page of systems (one query)."""
    ids = [s.pk for s in systems]
    counts: dict[int, dict] = {pk: {} for pk in ids}
    for row in (
        Credential.objects.filter(system_id__in=ids)
        .values("system_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    ):
        counts[row["system_id"]][row["status"]] = row["n"]
    for system in systems:
        system.credential_counts = counts[system.pk]  # type: ignore[attr-defined]


def system_live_credential_count(system: System) -> int:
    """Credentials on ``system`` that decommissioning it would revoke (active or failed)."""
    return system.credentials.filter(
        status__in=(Credential.Status.ACTIVE, Credential.Status.FAILED)
    ).count()


def system_credentials(system: System) -> QuerySet[Credential]:
    return system.credentials.select_related("vendor").order_by("external_id")


class _OnSystemsOf(Func):
    """``system_id`` among the systems of these agencies, written for PostgreSQL as
    ``system_id = ANY(ARRAY(SELECT id FROM access_system WHERE agency_id = ANY(ids)))``:
    the inner select runs once as an init plan and its ids go to an index scan, where a
    join or ``IN (subquery)`` hashes every credential. Plain SQL for the inner select:
    an ORM subquery is cloned and resolved again with every step of the queryset."""

    output_field = BooleanField()

    def __init__(self, column, agency_ids):
        super().__init__(column)
        self.agency_ids = [int(pk) for pk in agency_ids]

    def as_sql(self, compiler, connection, function=None, template=None, arg_joiner=None, **extra):
        column, params = compiler.compile(self.get_source_expressions()[0])
        table = System._meta.db_table
        if not self.agency_ids:
            return "1 = 0", ()
        if connection.vendor == "postgresql":
            inner = f"SELECT id FROM {table} WHERE agency_id = ANY(%s)"
            return f"{column} = ANY(ARRAY({inner}))", (*params, self.agency_ids)
        marks = ", ".join(["%s"] * len(self.agency_ids))
        inner = f"SELECT id FROM {table} WHERE agency_id IN ({marks})"
        return f"{column} IN ({inner})", (*params, *self.agency_ids)


def credential_list(
    *,
    user,
    perm: str = VIEW,
    pks: Collection[int] | None = None,
    agency_ids: Collection[int] | None = None,
) -> QuerySet[Credential]:
    """Credentials with their contract ids (prefetched without loading or sorting contracts).

    ``agency_ids``: the caller's own read of ``agency_ids_for(user, perm)`` (an API view
    reads it once per request), used instead of reading it again.
    """
    credentials = Credential.objects.all()
    if agency_ids is not None:
        # The agencies' systems as one array the planner reads once, not a join: a count
        # of 100,000 credentials reads the system_id index alone (7.4 ms against 16.4 ms
        # for the join's hash of every row, psql, load 3.4; 15.8 against 19.4 with a
        # status). Same rows as ``within``: those whose system is in the agencies.
        scoped = credentials.filter(_OnSystemsOf(F("system_id"), agency_ids))
    else:
        scoped = restrict(credentials, user, perm)
    qs = scoped.prefetch_related(
        Prefetch("contracts", queryset=Contract.objects.only("id").order_by())
    )
    if pks is not None:
        qs = qs.filter(pk__in=list(pks))
    return qs


def credential_get(*, user, pk: int, perm: str = VIEW) -> Credential | None:
    """The credential, with vendor, system and agency, if ``user`` holds ``perm`` there."""
    return (
        restrict(Credential.objects.all(), user, perm)
        .select_related("vendor", "system", "system__agency")
        .filter(pk=pk)
        .first()
    )


def credential_contracts(credential: Credential) -> QuerySet[Contract]:
    return credential.contracts.order_by("end_date")


def contract_credentials(contract: Contract) -> QuerySet[Credential]:
    """Credentials the contract authorises, by system (pages show them a page at a time)."""
    return contract.credentials.select_related("system").order_by("system__name", "external_id")


def vendor_credentials(vendor: Vendor) -> QuerySet[Credential]:
    """The vendor's credentials by system, for a paged list (a vendor already fetched)."""
    return vendor.credentials.select_related("system").order_by("system__name", "external_id")
