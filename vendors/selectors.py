"""Reads for vendors and contracts, always through the agency permission helper."""

from django.db.models import Count, Prefetch, Q, QuerySet

from vendors.models import Contract, Vendor
from vendors.permissions import VIEW, restrict


def vendor_list(*, user, perm: str = VIEW) -> QuerySet[Vendor]:
    return (
        restrict(Vendor.objects.all(), user, perm)
        .select_related("agency")
        .prefetch_related(Prefetch("contracts", queryset=Contract.objects.order_by("end_date")))
        .annotate(active_credentials=Count("credentials", filter=Q(credentials__status="active")))
        .order_by("agency__name", "name")
    )
