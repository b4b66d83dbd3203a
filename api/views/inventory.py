"""Target systems and credentials over the API."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from access import selectors as access_selectors
from access import services as access_services
from api import filters, serializers
from api.viewsets import AgencyScopedViewSet
from findings import reconciliation
from revocation import services as revocation_services
from vendors.permissions import MANAGE_INVENTORY, REVOKE

# Systems ----------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Target systems"),
    retrieve=extend_schema(summary="One target system"),
    create=extend_schema(summary="Register a target system"),
    partial_update=extend_schema(
        summary="Change a target system",
        description="An omitted secret is kept; an empty one clears it.",
    ),
)
class SystemViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, AgencyScopedViewSet):
    serializer_class = serializers.SystemSerializer
    filterset_class = filters.SystemFilter
    search_fields = ["name", "owner_email"]
    ordering_fields = ["name", "kind", "lifecycle", "estimated_records", "created_at"]
    ordering = ["name", "id"]
    write_perm = MANAGE_INVENTORY
    action_perms = {"reconcile": MANAGE_INVENTORY}

    def rows(self, perm):
        # target_state: one join instead of a query per system of the page.
        return access_selectors.system_list(user=self.request.user, perm=perm).select_related(
            "target_state"
        )

    @extend_schema(
        summary="Reconcile a system now",
        description=(
            "Queues a pass that reads every account on the target and compares it with "
            "the registry (orphans, drift, not found, use after the end). Returns the "
            "queued run, or the one already queued or running."
        ),
        request=None,
        responses={202: serializers.ReconciliationRunSerializer},
    )
    @action(detail=True, methods=["post"])
    def reconcile(self, request, pk=None):
        system = self.get_object()
        run, _ = reconciliation.reconciliation_request(
            actor=self.actor(), system=system, trigger="manual"
        )
        body = serializers.ReconciliationRunSerializer(run, context=self.get_serializer_context())
        return Response(body.data, status=status.HTTP_202_ACCEPTED)

    def create(self, request):
        data = self.validated()
        system = access_services.system_create(actor=self.actor(), **data)
        return self.respond(system, status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        system = self.get_object()
        data = self.validated(instance=system, partial=True)
        system = access_services.system_update(actor=self.actor(), system=system, **data)
        return self.respond(system)


# Credentials ------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Credentials vendors hold"),
    retrieve=extend_schema(summary="One credential"),
    create=extend_schema(summary="Register a credential"),
    partial_update=extend_schema(summary="Change a credential's details or contracts"),
)
class CredentialViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, AgencyScopedViewSet):
    serializer_class = serializers.CredentialSerializer
    filterset_class = filters.CredentialFilter
    search_fields = ["external_id", "holder"]
    ordering_fields = ["external_id", "status", "expires_at", "created_at", "updated_at"]
    ordering = ["id"]
    write_perm = MANAGE_INVENTORY
    action_perms = {"revoke": REVOKE}

    def rows(self, perm):
        return access_selectors.credential_list(
            user=self.request.user, perm=perm, agency_ids=self.agency_ids(perm)
        )

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action == "list":
            # The list serializer reads the page's contract ids itself, in one query of
            # the link table (api.serializers.inventory._contract_ids).
            queryset = queryset.prefetch_related(None)
        return queryset

    def create(self, request):
        data = self.validated()
        credential = access_services.credential_register(actor=self.actor(), **data)
        return self.respond(credential, status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        credential = self.get_object()
        data = self.validated(instance=credential, partial=True)
        credential = access_services.credential_update(
            actor=self.actor(), credential=credential, **data
        )
        return self.respond(credential)

    @extend_schema(
        summary="Revoke a credential now",
        description=(
            "Moves an active or failed credential to pending; a worker revokes it on the "
            "target and verifies it. A pending or revoked credential is returned as is."
        ),
        request=serializers.ReasonSerializer,
        responses={202: serializers.CredentialSerializer},
    )
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        credential = self.get_object()
        data = self.validated(serializers.ReasonSerializer)
        credential = revocation_services.credential_revoke(
            actor=self.actor(), credential=credential, reason=data["reason"]
        )
        return self.respond(credential, status.HTTP_202_ACCEPTED)
