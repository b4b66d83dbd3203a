"""Reads of agencies, vendors and contracts, for the API and the dashboard.

Functions that take a ``user`` go through ``restrict``; those that take a vendor or
contract read below an object the caller has already fetched through one of them.
"""

from typing import Any

from django.db.models import Count, Max, Q, QuerySet
from django.db.models.functions import Now

from access.models import Credential
from vendors.models import Agency, Contract, Vendor
from vendors.permissions import VIEW, restrict
from vendors.risk import risk_annotate


def agency_list(*, user, perm: str = VIEW) -> QuerySet[Agency]:
    """Agencies where ``user`` holds ``perm``, by name."""
    return restrict(Agency.objects.all(), user, perm).order_by("name")


def vendor_list(*, user, perm: str = VIEW) -> QuerySet[Vendor]:
    return restrict(Vendor.objects.all(), user, perm)


def vendor_get(*, user, pk: int, perm: str = VIEW) -> Vendor | None:
    """The vendor, with agency and sponsor, if ``user`` holds ``perm`` in its agency."""
    return (
        vendor_list(user=user, perm=perm).select_related("agency", "sponsor").filter(pk=pk).first()
    )


def vendor_risk_list(*, user, perm: str = VIEW) -> QuerySet[Vendor]:
    """``vendor_list`` with each vendor's ``risk_score`` and its parts (vendors.risk)."""
    return risk_annotate(vendor_list(user=user, perm=perm))


def vendor_search(
    *,
    user,
    q: str = "",
    status: str = "",
    risk_tier: str = "",
    agency: str = "",
    sort: str = "",
) -> QuerySet[Vendor]:
    """Vendors matching the filters, with their risk score; by name, or with
    ``sort="risk"`` highest score first."""
    qs = vendor_risk_list(user=user).select_related("agency")
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(registration_number__icontains=q))
    if status:
        qs = qs.filter(status=status)
    if risk_tier:
        qs = qs.filter(risk_tier=risk_tier)
    if agency:
        qs = qs.filter(agency__slug=agency)
    if sort == "risk":
        # Any: the plugin cannot see risk_annotate's annotation.
        annotated: Any = qs
        return annotated.order_by("-risk_score", "name", "pk")
    return qs.order_by("name", "pk")


def vendor_page_stats(vendors: list[Vendor]) -> None:
    """Credential counts and contract ends for one page of vendors (two queries).

    ``last_contract_end`` is the latest end of a running contract or, when none runs,
    of any contract; ``contracts_state`` says which ("running", "ended", or "none"), so
    a vendor whose contracts all ended is not shown as if it had a running one.
    """
    ids = [v.pk for v in vendors]
    counts: dict[int, dict] = {pk: {} for pk in ids}
    for row in (
        Credential.objects.filter(vendor_id__in=ids)
        .values("vendor_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    ):
        counts[row["vendor_id"]][row["status"]] = row["n"]
    ends = {
        row["vendor_id"]: row
        for row in Contract.objects.filter(vendor_id__in=ids)
        .values("vendor_id")
        .annotate(
            # Running: access under it has not ended (a termination may still lie ahead).
            running=Max("end_date", filter=Q(access_ends_at__gt=Now())),
            any_end=Max("end_date"),
        )
        .order_by()
    }
    for vendor in vendors:
        vendor.credential_counts = counts[vendor.pk]  # type: ignore[attr-defined]
        latest = ends.get(vendor.pk)
        if latest is None:
            state, end = "none", None
        elif latest["running"] is not None:
            state, end = "running", latest["running"]
        else:
            state, end = "ended", latest["any_end"]
        vendor.contracts_state = state  # type: ignore[attr-defined]
        vendor.last_contract_end = end  # type: ignore[attr-defined]


def vendor_contracts(vendor: Vendor) -> QuerySet[Contract]:
    """The vendor's contracts, latest end first."""
    return vendor.contracts.order_by("-end_date")


def contract_list(*, user, perm: str = VIEW) -> QuerySet[Contract]:
    # The vendor comes along: a contract's agency is its vendor's.
    return restrict(Contract.objects.select_related("vendor"), user, perm)


def contract_get(*, user, pk: int, perm: str = VIEW) -> Contract | None:
    """The contract, with vendor and agency, if ``user`` holds ``perm`` in its agency."""
    return (
        contract_list(user=user, perm=perm).select_related("vendor__agency").filter(pk=pk).first()
    )


def contract_search(*, user, q: str = "", status: str = "") -> QuerySet[Contract]:
    qs = contract_list(user=user).select_related("vendor__agency")
    if q:
        qs = qs.filter(
            Q(reference__icontains=q) | Q(title__icontains=q) | Q(vendor__name__icontains=q)
        )
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("end_date", "reference")


PICKER_LIMIT = 20


def contract_picker(
    *, user, perm: str, vendor_id: int, q: str = "", selected=(), limit: int = PICKER_LIMIT
) -> tuple[list[Contract], list[Contract], int]:
    """One vendor's contracts for a searchable picker: (the selected ones, up to ``limit``
    others matching ``q`` that have not ended, soonest end first, how many match in all).

    A vendor may hold thousands of contracts: only a page of them is ever listed, and
    the person narrows it by reference or title.
    """
    scoped = restrict(Contract.objects.all(), user, perm).filter(vendor_id=vendor_id)
    ids = [int(pk) for pk in selected if str(pk).isdigit()]
    chosen = list(scoped.filter(pk__in=ids).order_by("end_date", "reference")) if ids else []
    matches = scoped.exclude(pk__in=[c.pk for c in chosen]).exclude(status=Contract.Status.ENDED)
    if q:
        matches = matches.filter(Q(reference__icontains=q) | Q(title__icontains=q))
    matches = matches.order_by("end_date", "reference")
    return chosen, list(matches[:limit]), matches.count()
