"""One JSON error shape for every API error.

``{"error": {"status": 400, "code": "invalid", "message": "...", "fields": {...}}}``;
``fields`` maps a field name (or ``non_field_errors``) to its messages.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import set_rollback

NON_FIELD = api_settings.NON_FIELD_ERRORS_KEY


def django_validation_to_drf(exc: DjangoValidationError) -> exceptions.ValidationError:
    """The services' field-keyed ValidationError as DRF's, messages unchanged."""
    if hasattr(exc, "error_dict"):
        detail = {
            (NON_FIELD if name == "__all__" else name): list(messages)
            for name, messages in exc.message_dict.items()
        }
    else:
        detail = {NON_FIELD: list(exc.messages)}
    return exceptions.ValidationError(detail)


def _flatten(detail) -> list[str]:
    if isinstance(detail, dict):
        return [m for value in detail.values() for m in _flatten(value)]
    if isinstance(detail, list):
        return [m for value in detail for m in _flatten(value)]
    return [str(detail)]


def _fields(detail) -> dict:
    # Always one flat level of name -> messages, whatever DRF nested underneath.
    if isinstance(detail, dict):
        return {str(name): _flatten(value) for name, value in detail.items()}
    return {NON_FIELD: _flatten(detail)}


def error_body(status_code: int, code: str, message: str, fields: dict | None = None) -> dict:
    body = {"status": status_code, "code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = django_validation_to_drf(exc)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None  # a real bug: let Django log it and answer 500
    headers = {}
    # Only some APIException subclasses carry these (NotAuthenticated, Throttled).
    auth_header = getattr(exc, "auth_header", None)
    if auth_header:
        headers["WWW-Authenticate"] = auth_header
    wait = getattr(exc, "wait", None)
    if wait:
        headers["Retry-After"] = str(int(wait))
    if isinstance(exc, exceptions.ValidationError):
        fields = _fields(exc.detail)
        body = error_body(
            exc.status_code, "invalid", "The request is not valid; see the fields.", fields
        )
    else:
        detail = exc.detail
        code = detail.code if hasattr(detail, "code") else exc.default_code
        body = error_body(exc.status_code, str(code), " ".join(_flatten(detail)))
    # Nothing half-written: an error inside ATOMIC_REQUESTS or atomic() rolls back.
    set_rollback()
    return Response(body, status=exc.status_code or status.HTTP_400_BAD_REQUEST, headers=headers)
