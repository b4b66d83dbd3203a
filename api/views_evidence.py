"""Evidence packs over the API: a zip per vendor or per contract (auditors' VIEW_AUDIT)."""

from django.http import HttpResponse, JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins

from api.exceptions import error_body
from api.viewsets import AgencyScopedViewSet
from audit.actor import Actor
from audit.evidence import EvidenceError, evidence_pack_build, scope_for_contract, scope_for_vendor
from vendors import selectors as vendor_selectors
from vendors.permissions import VIEW_AUDIT

_ZIP = OpenApiResponse(
    OpenApiTypes.BINARY,
    description="Zip: manifest.json, events.jsonl with inclusion proofs, checkpoint.txt, "
    "verifier-key.txt, certificate.html. Check it offline with tools/sundown-verify.",
)
_RESPONSES = {(200, "application/zip"): _ZIP, 409: OpenApiTypes.OBJECT}


def _id(what: str) -> list[OpenApiParameter]:
    return [OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description=what)]


def _zip_response(request, scope) -> HttpResponse:
    try:
        name, data = evidence_pack_build(actor=Actor.from_request(request), scope=scope)
    except EvidenceError as exc:
        # The trail no longer matches its signed checkpoints: no pack can be honest.
        return JsonResponse(error_body(409, "trail_broken", str(exc)), status=409)
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


class VendorEvidencePackViewSet(mixins.RetrieveModelMixin, AgencyScopedViewSet):
    """``GET /api/v1/vendor-evidence-packs/{id}/``: the vendor's evidence pack."""

    read_perm = VIEW_AUDIT
    http_method_names = ["get", "head"]

    def rows(self, perm):
        return vendor_selectors.vendor_list(user=self.request.user, perm=perm)

    @extend_schema(
        summary="Evidence pack of a vendor (zip)",
        parameters=_id("The vendor's id."),
        responses=_RESPONSES,
    )
    def retrieve(self, request, *args, **kwargs):
        return _zip_response(request, scope_for_vendor(self.get_object()))


class ContractEvidencePackViewSet(mixins.RetrieveModelMixin, AgencyScopedViewSet):
    """``GET /api/v1/contract-evidence-packs/{id}/``: one contract's evidence pack."""

    read_perm = VIEW_AUDIT
    http_method_names = ["get", "head"]

    def rows(self, perm):
        return vendor_selectors.contract_list(user=self.request.user, perm=perm)

    @extend_schema(
        summary="Evidence pack of a contract (zip)",
        parameters=_id("The contract's id."),
        responses=_RESPONSES,
    )
    def retrieve(self, request, *args, **kwargs):
        return _zip_response(request, scope_for_contract(self.get_object()))
