"""Findings (and their triage verbs) and reconciliation runs over the API."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from access import selectors as access_selectors
from api import filters, serializers
from api.viewsets import AgencyScopedViewSet
from findings import selectors as finding_selectors
from findings import services as finding_services
from vendors.permissions import MANAGE_INVENTORY, REVOKE


@extend_schema_view(
    list=extend_schema(
        summary="Findings: what reconciliation and usage evidence found",
        description=(
            "Orphan accounts, drift, registered credentials the target does not show, use "
            "after a contract's end or after revocation, dormant access and more (`kind`). "
            "At most one open or acknowledged finding per system, account and kind."
        ),
    ),
    retrieve=extend_schema(summary="One finding"),
)
class FindingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, AgencyScopedViewSet):
    serializer_class = serializers.FindingSerializer
    filterset_class = filters.FindingFilter
    search_fields = ["account", "summary"]
    ordering_fields = ["last_seen_at", "first_seen_at", "severity_order", "times_seen"]
    ordering = ["-severity_order", "-last_seen_at", "-id"]
    action_perms = {
        "acknowledge": REVOKE,
        "resolve": REVOKE,
        "false_positive": REVOKE,
        "adopt": MANAGE_INVENTORY,
    }

    def rows(self, perm):
        return finding_selectors.finding_list(user=self.request.user, perm=perm)

    def _triage(self, service):
        finding = self.get_object()
        data = self.validated(serializers.ReasonSerializer)
        finding = service(actor=self.actor(), finding=finding, reason=data["reason"])
        return self.respond(finding)

    @extend_schema(
        summary="Acknowledge a finding (someone is on it)",
        request=serializers.ReasonSerializer,
        responses={200: serializers.FindingSerializer},
    )
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        return self._triage(finding_services.finding_acknowledge)

    @extend_schema(
        summary="Resolve a finding",
        description="Seen again later, the same subject opens a new finding.",
        request=serializers.ReasonSerializer,
        responses={200: serializers.FindingSerializer},
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        return self._triage(finding_services.finding_resolve)

    @extend_schema(
        summary="Mark a finding a false positive",
        description=(
            "For kinds a person may judge once (orphan, not found, dormant, ...), later "
            "sightings of the same subject stay quiet; drift and use after the end never do."
        ),
        request=serializers.ReasonSerializer,
        responses={200: serializers.FindingSerializer},
    )
    @action(detail=True, methods=["post"], url_path="false-positive")
    def false_positive(self, request, pk=None):
        return self._triage(finding_services.finding_mark_false_positive)

    @extend_schema(
        summary="Adopt an orphan account as a vendor's credential",
        description=(
            "Registers the account as a credential under the contracts named and resolves "
            "the finding; the credential is then revoked when its contracts end."
        ),
        request=serializers.FindingAdoptSerializer,
        responses={201: serializers.CredentialSerializer},
    )
    @action(detail=True, methods=["post"])
    def adopt(self, request, pk=None):
        finding = self.get_object()
        data = self.validated(serializers.FindingAdoptSerializer)
        credential = finding_services.finding_adopt(
            actor=self.actor(),
            finding=finding,
            vendor=data["vendor"],
            contracts=list(data["contracts"]),
            kind=data.get("kind", ""),
            holder=data.get("holder", ""),
            privileges=data.get("privileges", ""),
            reason=data.get("reason", ""),
        )
        credential = access_selectors.credential_list(
            user=request.user, perm=MANAGE_INVENTORY, pks=[credential.pk]
        ).get()
        body = serializers.CredentialSerializer(credential, context=self.get_serializer_context())
        return Response(body.data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(summary="Reconciliation runs (one per pass over a system)"),
    retrieve=extend_schema(summary="One reconciliation run"),
)
class ReconciliationRunViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, AgencyScopedViewSet
):
    serializer_class = serializers.ReconciliationRunSerializer
    filterset_class = filters.ReconciliationRunFilter
    ordering_fields = ["queued_at", "finished_at", "duration_ms"]
    ordering = ["-queued_at", "-id"]

    def rows(self, perm):
        return finding_selectors.reconciliation_runs(user=self.request.user, perm=perm)
