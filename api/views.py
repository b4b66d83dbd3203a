"""API views: thin. Reads through the apps' selectors (all via ``restrict``), writes and
verbs through the services."""

from typing import Any

from django.db import transaction
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.response import Response

from access import selectors as access_selectors
from access import services as access_services
from api import filters, serializers
from api.exceptions import error_body
from api.pagination import AfterSeqPagination
from api.viewsets import AgencyScopedViewSet
from audit.selectors import audit_event_list
from findings import reconciliation
from findings import selectors as finding_selectors
from findings import services as finding_services
from revocation import selectors as revocation_selectors
from revocation import services as revocation_services
from vendors import selectors as vendor_selectors
from vendors import services as vendor_services
from vendors.permissions import (
    MANAGE_CONTRACTS,
    MANAGE_INVENTORY,
    MANAGE_VENDORS,
    REVOKE,
    VIEW_AUDIT,
)

# Agencies ---------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Agencies you are granted"),
    retrieve=extend_schema(summary="One agency"),
)
class AgencyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, AgencyScopedViewSet):
    serializer_class = serializers.AgencySerializer
    search_fields = ["name", "slug"]
    ordering_fields = ["name", "slug", "created_at"]
    filterset_class = filters.AgencyFilter

    def rows(self, perm):
        return vendor_selectors.agency_list(user=self.request.user, perm=perm)


# Vendors ----------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Vendors"),
    retrieve=extend_schema(summary="One vendor"),
    create=extend_schema(summary="Register a vendor"),
    partial_update=extend_schema(summary="Change a vendor's details"),
)
class VendorViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, AgencyScopedViewSet):
    serializer_class = serializers.VendorSerializer
    filterset_class = filters.VendorFilter
    search_fields = ["name", "registration_number", "contact_name"]
    ordering_fields = ["name", "created_at", "updated_at", "risk_tier", "status"]
    ordering = ["name", "id"]
    write_perm = MANAGE_VENDORS
    action_perms = {"kill_switch": REVOKE}

    def rows(self, perm):
        return vendor_selectors.vendor_list(user=self.request.user, perm=perm)

    def create(self, request):
        data = self.validated()
        vendor = vendor_services.vendor_create(actor=self.actor(), **data)
        return self.respond(vendor, status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        vendor = self.get_object()
        data = self.validated(instance=vendor, partial=True)
        vendor = vendor_services.vendor_update(actor=self.actor(), vendor=vendor, **data)
        return self.respond(vendor)

    @extend_schema(
        summary="Kill switch: revoke all of a vendor's access now",
        description=(
            "Moves every active or failed credential of the vendor to pending (the "
            "workers revoke and verify them on the targets) and suspends the vendor. "
            "Returns what was queued."
        ),
        request=serializers.ReasonSerializer,
        responses={202: serializers.KillSwitchResultSerializer},
    )
    @action(detail=True, methods=["post"], url_path="kill-switch")
    def kill_switch(self, request, pk=None):
        vendor = self.get_object()
        data = self.validated(serializers.ReasonSerializer)
        queued = revocation_services.vendor_kill_switch(
            actor=self.actor(), vendor=vendor, reason=data["reason"]
        )
        queued = list(
            access_selectors.credential_list(
                user=request.user, perm=REVOKE, pks=[c.pk for c in queued]
            ).order_by("pk")
        )
        context = self.get_serializer_context()
        body = {
            "vendor": serializers.VendorSerializer(self.reloaded(vendor), context=context).data,
            "queued_count": len(queued),
            "queued": serializers.CredentialSerializer(queued, many=True, context=context).data,
        }
        return Response(body, status=status.HTTP_202_ACCEPTED)


# Contracts --------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Contracts"),
    retrieve=extend_schema(summary="One contract"),
    create=extend_schema(summary="Record a contract"),
    partial_update=extend_schema(
        summary="Amend a contract",
        description=(
            "Descriptive fields change in place; a new end_date or grace_days extends or "
            "shortens the contract (with change_reason in the audit trail). Both in one "
            "transaction. Refused once access under the contract has ended."
        ),
    ),
)
class ContractViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, AgencyScopedViewSet):
    serializer_class = serializers.ContractSerializer
    filterset_class = filters.ContractFilter
    search_fields = ["reference", "title", "vendor__name"]
    ordering_fields = ["end_date", "start_date", "reference", "access_ends_at", "created_at"]
    ordering = ["end_date", "reference", "id"]
    write_perm = MANAGE_CONTRACTS
    action_perms = {"terminate": MANAGE_CONTRACTS}

    def rows(self, perm):
        return vendor_selectors.contract_list(user=self.request.user, perm=perm)

    def create(self, request):
        data = self.validated()
        data.pop("change_reason", None)
        contract = vendor_services.contract_create(actor=self.actor(), **data)
        return self.respond(contract, status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        contract = self.get_object()
        data = self.validated(instance=contract, partial=True)
        reason = data.pop("change_reason", "")
        end_date = data.pop("end_date", None)
        grace_days = data.pop("grace_days", None)
        actor = self.actor()
        with transaction.atomic():
            if data:
                contract = vendor_services.contract_update(actor=actor, contract=contract, **data)
            if end_date is not None or grace_days is not None:
                contract = vendor_services.contract_change_end_date(
                    actor=actor,
                    contract=contract,
                    end_date=end_date if end_date is not None else contract.end_date,
                    grace_days=grace_days,
                    reason=reason,
                )
        return self.respond(contract)

    @extend_schema(
        summary="Terminate a contract early",
        description=(
            "Access under the contract ends at the end of effective_date (agency time "
            "zone), without grace; the sweep then revokes its credentials."
        ),
        request=serializers.ContractTerminateSerializer,
        responses={200: serializers.ContractSerializer},
    )
    @action(detail=True, methods=["post"])
    def terminate(self, request, pk=None):
        contract = self.get_object()
        data = self.validated(serializers.ContractTerminateSerializer)
        contract = vendor_services.contract_terminate(
            actor=self.actor(),
            contract=contract,
            effective_date=data.get("effective_date"),
            reason=data["reason"],
        )
        return self.respond(contract)


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
        return access_selectors.system_list(user=self.request.user, perm=perm)

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
        return access_selectors.credential_list(user=self.request.user, perm=perm)

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


# Findings ---------------------------------------------------------------------


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


# Revocation attempts and manual tasks -----------------------------------------


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


# Audit trail ------------------------------------------------------------------


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


class ApiDocsView(SpectacularSwaggerSplitView):
    """Swagger UI from local (sidecar) assets; the init script is a separate file for CSP."""

    template_name = "api/swagger_ui.html"


@csrf_exempt  # it changes nothing; a CSRF page would break the API's error format
def not_found(request, *args, **kwargs):
    """Unknown URL under /api/ (including ids that are not numbers)."""
    return JsonResponse(error_body(404, "not_found", "Not found."), status=404)
