"""Agencies, vendors (and the kill switch) and contracts over the API."""

from django.db import transaction
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from access import selectors as access_selectors
from api import filters, serializers
from api.viewsets import AgencyScopedViewSet
from revocation import services as revocation_services
from vendors import selectors as vendor_selectors
from vendors import services as vendor_services
from vendors.permissions import MANAGE_CONTRACTS, MANAGE_VENDORS, REVOKE

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
    ordering_fields = ["name", "created_at", "updated_at", "risk_tier", "risk_score", "status"]
    ordering = ["name", "id"]
    write_perm = MANAGE_VENDORS
    action_perms = {"kill_switch": REVOKE}

    def rows(self, perm):
        return vendor_selectors.vendor_risk_list(user=self.request.user, perm=perm)

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
