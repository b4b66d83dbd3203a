"""OpenAPI description: the token scheme and the error responses of every operation."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema

from api.serializers import ErrorSerializer

ERRORS = {
    "400": "Invalid input; `error.fields` holds the messages per field.",
    "401": "No credentials, or an unknown, expired or revoked token.",
    "403": "Authenticated, but without the permission this needs in this agency.",
    "404": "No such object among those you may see (objects of other agencies are never shown).",
    "429": "Too many requests for this token; see Retry-After.",
}
# Which errors each kind of operation can answer with.
_READ_LIST = ("400", "401", "403", "404", "429")
_DETAIL = ("401", "403", "404", "429")
_WRITE = ("400", "401", "403", "404", "429")


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "`Token <key>`. Create a key with `manage.py create_api_token <username>` "
                "or in the admin; it is shown once and stored only as a hash."
            ),
        }


class AutoSchema(SpectacularAutoSchema):
    """Adds the shared error responses so every operation documents them."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        codes = self._error_codes()
        for code in codes:
            if code not in responses:
                body = self._get_response_for_code(ErrorSerializer, code, direction=direction)
                body["description"] = ERRORS[code]
                responses[code] = body
        return responses

    def _error_codes(self) -> tuple[str, ...]:
        if self.method != "GET":
            return _WRITE
        return _DETAIL if "{" in self.path else _READ_LIST


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.CsrfSessionAuthentication"
    name = "cookieAuth"
    priority = 1

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": (
                "The dashboard's session (browser use, e.g. these docs); unsafe methods "
                "also need the CSRF token in the X-CSRFToken header."
            ),
        }
