"""The base of every API resource: agency-scoped authorization, audited denials, and
the helpers the write actions share."""

from collections.abc import Mapping
from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.fields import CharField
from rest_framework.filters import OrderingFilter, SearchFilter
from rest_framework.response import Response

from api.permissions import AgencyPermission
from api.selectors import denied_target
from api.serializers import CANNOT_CHANGE
from audit.actor import Actor
from audit.services import audit_record_standalone
from vendors.permissions import VIEW, agency_id_of, agency_ids_for, owner_relations

FILTER_BACKENDS: list[type[Any]] = [DjangoFilterBackend, SearchFilter, OrderingFilter]


class AgencyScopedViewSet(viewsets.GenericViewSet):
    """Shared authorization for every agency-owned resource.

    ``rows(perm)`` reads the resource through its app's selector, limited to the
    agencies where the user holds ``perm``; which agency owns an object comes from
    ``vendors.permissions.AGENCY_OWNER``. ``read_perm`` governs list and retrieve,
    ``write_perm`` create and update, ``action_perms`` the verbs.
    """

    permission_classes = [AgencyPermission]
    filter_backends = FILTER_BACKENDS
    read_perm = VIEW
    write_perm: str | None = None
    action_perms: dict[str, str] = {}
    http_method_names = ["get", "post", "patch", "head"]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not self.detail:
            refuse_repeated_query_params(request)

    # Authorization -------------------------------------------------------

    def check_permissions(self, request):
        # Throttle before deciding: every denial writes an audit event, and a client
        # hammering what it may not do must not be able to grow the trail without limit.
        super().check_throttles(request)
        self._throttles_checked = True
        super().check_permissions(request)

    def check_throttles(self, request):
        if not getattr(self, "_throttles_checked", False):
            super().check_throttles(request)

    def required_perm(self) -> str | None:
        # "metadata" is OPTIONS, which the API does not offer: the reader's permission
        # gets the caller as far as the 405.
        if self.action in ("list", "retrieve", "metadata", None):
            return self.read_perm
        if self.action in ("create", "partial_update"):
            return self.write_perm
        return self.action_perms[self.action]

    def agency_ids(self, perm: str) -> list[int]:
        """Ids of the agencies where the user holds ``perm``, read once per request.

        The view object lives for one request, so a grant or revocation shows from the
        next request on; the permission check and ``rows`` share the one read.
        """
        memo: dict[str, list[int]] = self.__dict__.setdefault("_agency_ids", {})
        if perm not in memo:
            memo[perm] = agency_ids_for(self.request.user, perm)
        return memo[perm]

    def rows(self, perm: str) -> QuerySet:
        """The resource's rows in the agencies where the user holds ``perm``."""
        raise NotImplementedError

    def get_queryset(self):
        # Lists show the agencies where the user holds the read permission. Detail
        # lookups search everything the user may VIEW, so an object of another
        # agency is "not found" while one of their own agency is "forbidden".
        perm = VIEW if self.detail else self.read_perm
        queryset = self.rows(perm)
        relations = owner_relations(queryset.model)
        if self.detail and relations:
            # The object check reads the owner's agency id: load it with the object.
            queryset = queryset.select_related(*relations)
        return queryset

    def get_object(self):
        try:
            return super().get_object()
        except Http404:
            self._audit_cross_agency_probe()
            raise

    def _audit_cross_agency_probe(self):
        """An authenticated user asked for an object they cannot see.

        The same lookup and the same one event whether the id exists in another agency
        or nowhere, so neither the answer nor its timing tells them apart; and the event
        goes to the deployment's own trail, not the other agency's, where a stranger's
        probes would otherwise be written at will.
        """
        user = self.request.user
        if not (user and user.is_authenticated):
            return
        value = self.kwargs.get(self.lookup_url_kwarg or self.lookup_field)
        obj = denied_target(self.get_queryset().model, {self.lookup_field: value})
        request = self.request
        audit_record_standalone(
            actor=Actor.from_request(request),
            action="api.not_found",
            target=None,
            agency_id=None,
            after={
                "method": request.method,
                "path": request.path[:300],
                "endpoint": f"{self.basename}.{self.action}",
                "permission": self.required_perm() or "",
                "exists_elsewhere": obj is not None,
            },
        )

    def permission_denied(self, request, message=None, code=None):
        if request.user and request.user.is_authenticated:
            perm = getattr(self, "denied_perm", "")
            obj = getattr(self, "denied_object", None)
            self._audit_denial(obj=obj, reason="missing_permission", perm=perm)
            message = f"You do not hold the permission {perm!r} in this agency."
        super().permission_denied(request, message=message, code=code)

    def _audit_denial(self, *, obj, reason: str, perm: str):
        request = self.request
        audit_record_standalone(
            actor=Actor.from_request(request),
            action="api.permission_denied",
            target=obj,
            agency_id=agency_id_of(obj) if obj is not None else None,
            after={
                "method": request.method,
                "path": request.path[:300],
                "endpoint": f"{self.basename}.{self.action}",
                "permission": perm,
                "reason": reason,
            },
        )

    # Helpers for the write actions --------------------------------------------

    def actor(self) -> Actor:
        return Actor.from_request(self.request)

    def reloaded(self, obj):
        # Just written by this user through a service: read it back with the
        # list's select/prefetch so the representation costs the same queries.
        # The user holds the action's permission in the object's agency (checked
        # on the object, or on the related fields of a create), so it is found.
        perm = self.required_perm()
        assert perm is not None, "every write action names its permission"
        return self.rows(perm).get(pk=obj.pk)

    def respond(self, obj, status_code=status.HTTP_200_OK, serializer_class=None):
        serializer_class = serializer_class or self.get_serializer_class()
        data = serializer_class(self.reloaded(obj), context=self.get_serializer_context()).data
        return Response(data, status=status_code)

    def validated(self, serializer_class=None, instance=None, partial=False) -> dict:
        serializer_class = serializer_class or self.get_serializer_class()
        serializer = serializer_class(
            instance, data=self.request.data, partial=partial, context=self.get_serializer_context()
        )
        valid = serializer.is_valid()
        errors = {**unexpected_fields(serializer, self.request.data), **serializer.errors}
        if errors or not valid:
            raise ValidationError(errors)
        return dict(serializer.validated_data)


GIVE_ONCE = "Give this parameter once."


def refuse_repeated_query_params(request) -> None:
    """A 400 for ``?status=a&status=b``: every query parameter of the API takes one value
    (the schema says so), and the filters would quietly use the last one."""
    repeated = {
        name: [GIVE_ONCE] for name, values in request.query_params.lists() if len(values) > 1
    }
    if repeated:
        raise ValidationError(repeated)


UNKNOWN_FIELD = "Unknown field."
NOT_TEXT = "Not a valid string."


def unexpected_fields(serializer, data) -> dict[str, list[str]]:
    """A message for every key of ``data`` the serializer would not write.

    DRF drops unknown and read-only keys without a word, so a typo ("end_dte") or a
    field that is not the client's to set looks accepted. The schema says each request
    body takes exactly its fields (``additionalProperties: false``, api.schema); this is
    the API keeping that promise. Fields fixed after creation (``Meta.immutable``) count
    as read-only on an update, and a text field takes a JSON string, nothing else.
    """
    if not isinstance(data, Mapping):
        return {}  # DRF's own "expected a dictionary" error covers it
    immutable = getattr(getattr(serializer, "Meta", None), "immutable", ())
    fixed = set(immutable) if serializer.instance is not None else set()
    errors: dict[str, list[str]] = {}
    for key, value in data.items():
        field = serializer.fields.get(key)
        if field is None:
            errors[str(key)] = [UNKNOWN_FIELD]
        elif field.read_only or key in fixed:
            errors[str(key)] = [CANNOT_CHANGE]
        elif isinstance(field, CharField) and value is not None and not isinstance(value, str):
            # The schema says string; DRF's CharField would store 0 as "0".
            errors[str(key)] = [NOT_TEXT]
    return errors
