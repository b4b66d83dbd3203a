"""The audit trail over the API (for SIEM pulls)."""

from typing import Any

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins

from api import filters, serializers
from api.pagination import AfterSeqPagination
from api.viewsets import AgencyScopedViewSet
from audit.models import AuditEvent
from audit.selectors import audit_event_lookup, audit_trail_list
from vendors.permissions import VIEW_AUDIT


@extend_schema_view(
    list=extend_schema(
        summary="Audit events, oldest first, after a seq",
        description=(
            "For SIEM pulls: keep `last_seq` and pass it as `after_seq` next time. "
            "Events are append-only and hash-chained (`prev_hash`, `hash`).\n\n"
            "Which events: those of the agencies where you hold `view_audit`, and the "
            "deployment-wide ones (`agency_id` null: sign-ins and failed sign-ins, second "
            "factors, lockouts, chain checks) about people who hold a role in one of those "
            "agencies, exactly as on the dashboard's audit page; a superuser gets every "
            "event. Another agency's events, and deployment-wide ones about its people or "
            "about nobody known (a sign-in attempt for an unknown name, a refused token), "
            "stay out: the seq numbers they take are the only gaps you see, and "
            "`manage.py audit_verify` or the dashboard's verify button proves none is a "
            "deletion. `?agency=` keeps one agency's events and leaves the deployment-wide "
            "ones out."
        ),
    ),
    retrieve=extend_schema(
        summary="One audit event",
        description=(
            "Any event the list would give you, deployment-wide ones included. An event of "
            "your own agency without `view_audit` there is a 403; one of another agency, "
            "or deployment-wide but not about your agencies' people, a 404."
        ),
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
        # The schema generator (check --deploy included) has no user and may have no
        # database: audit_trail_list reads the user's agencies at once, unlike a lazy queryset.
        if getattr(self, "swagger_fake_view", False):
            return AuditEvent.objects.none()
        # The list is the dashboard's audit trail: without the deployment-wide events
        # (sign-ins have no agency) an auditor reads their seq numbers as deletions.
        if perm == VIEW_AUDIT:
            return audit_trail_list(user=self.request.user)
        return audit_event_lookup(user=self.request.user)

    def check_object_permissions(self, request, obj):
        # A deployment-wide event is found only through audit_trail_list, which already
        # required VIEW_AUDIT in an agency of the person it concerns; it has no agency
        # of its own in which to check the permission again.
        if obj.agency_id is None:
            return
        super().check_object_permissions(request, obj)
