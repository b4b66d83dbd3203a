"""The audit trail over the API (for SIEM pulls)."""

from typing import Any

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins

from api import filters, serializers
from api.pagination import AfterSeqPagination
from api.viewsets import AgencyScopedViewSet
from audit.selectors import audit_event_list
from vendors.permissions import VIEW_AUDIT


@extend_schema_view(
    list=extend_schema(
        summary="Audit events, oldest first, after a seq",
        description=(
            "For SIEM pulls: keep `last_seq` and pass it as `after_seq` next time. "
            "Events are append-only and hash-chained (`prev_hash`, `hash`)."
        ),
    ),
    retrieve=extend_schema(
        summary="One audit event",
        parameters=[
            OpenApiParameter(
                "seq", OpenApiTypes.INT, OpenApiParameter.PATH, description="The event's seq."
            )
        ],
    ),
)
class AuditEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, AgencyScopedViewSet):
    serializer_class = serializers.AuditEventSerializer
    filterset_class = filters.AuditEventFilter
    filter_backends: list[type[Any]] = [DjangoFilterBackend]
    pagination_class = AfterSeqPagination
    read_perm = VIEW_AUDIT
    lookup_field = "seq"

    def rows(self, perm):
        return audit_event_list(user=self.request.user, perm=perm)
