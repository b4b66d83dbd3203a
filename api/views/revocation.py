"""Revocation attempts and manual tasks over the API."""

from typing import Any

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter

from api import filters, serializers
from api.viewsets import AgencyScopedViewSet
from revocation import selectors as revocation_selectors
from revocation import services as revocation_services
from vendors.permissions import REVOKE, VIEW_AUDIT


@extend_schema_view(
    list=extend_schema(summary="Revocation attempts (one per connector call)"),
    retrieve=extend_schema(summary="One revocation attempt"),
)
class RevocationAttemptViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, AgencyScopedViewSet
):
    serializer_class = serializers.RevocationAttemptSerializer
    filterset_class = filters.RevocationAttemptFilter
    search_fields = ["error", "worker"]
    ordering_fields = ["started_at", "finished_at", "duration_ms"]
    ordering = ["-started_at", "-id"]
    read_perm = VIEW_AUDIT

    def rows(self, perm):
        return revocation_selectors.revocation_attempts(user=self.request.user, perm=perm)


@extend_schema_view(
    list=extend_schema(summary="Manual revocation tasks"),
    retrieve=extend_schema(summary="One manual task"),
)
class ManualTaskViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, AgencyScopedViewSet):
    serializer_class = serializers.ManualTaskSerializer
    filterset_class = filters.ManualTaskFilter
    filter_backends: list[type[Any]] = [
        DjangoFilterBackend,
        filters.ManualTaskSearch,
        OrderingFilter,
    ]
    search_fields = ["detail", "note"]  # see ManualTaskSearch
    ordering_fields = ["opened_at", "completed_at", "status"]
    ordering = ["-opened_at", "-id"]
    action_perms = {"complete": REVOKE}

    def rows(self, perm):
        # Every status: the API lists done tasks too and reads a completed one back.
        return revocation_selectors.manual_tasks(user=self.request.user, perm=perm, status=None)

    @extend_schema(
        summary="Confirm a manual revocation",
        description="Marks the task done and the credential revoked (by hand, unverified).",
        request=serializers.ManualTaskCompleteSerializer,
        responses={200: serializers.ManualTaskSerializer},
    )
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        task = self.get_object()
        data = self.validated(serializers.ManualTaskCompleteSerializer)
        task = revocation_services.manual_task_complete(
            actor=self.actor(), task=task, note=data["note"]
        )
        return self.respond(task)
