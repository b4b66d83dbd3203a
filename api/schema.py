"""OpenAPI description: the token scheme and the error responses of every operation."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework import serializers as drf_serializers

from api.serializers import EMAIL_PATTERN, ConfigField, Email, ErrorSerializer, Text
from api.viewsets import AgencyScopedViewSet

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


# Request text in the schema's own terms (a regex per field), mirroring what the API
# refuses: NUL anywhere (api.parsers), control characters in one-line text and all but
# tab and line breaks in multi-line text (config.text), and a value that is only
# whitespace where a field may not be blank (DRF trims before its blank check).
# Both refuse the bidirectional controls (config.text.BIDI_CONTROLS).
_BIDI = "\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069"
_CONTROLS = "\\u0000-\\u001f\\u007f-\\u009f" + _BIDI
_CONTROLS_MULTILINE = "\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f" + _BIDI
# str.isspace() outside the controls above: what str.strip() removes besides them.
_SPACES = "\\u0020\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
_ALL_SPACES = "\\t\\n\\u000b\\u000c\\r\\u001c-\\u001f\\u0085" + _SPACES


# A text query parameter: anything but NUL, empty included (an empty text filter is no filter).
QUERY_TEXT_PATTERN = "^[^\\u0000]*$"


def text_pattern(*, multiline: bool | None, blank: bool) -> str:
    """The ``pattern`` of a request string; ``multiline=None``: any text but NUL."""
    refused = {None: "\\u0000", False: _CONTROLS, True: _CONTROLS_MULTILINE}[multiline]
    if blank:
        # drf-spectacular offers "" as a branch of its own (oneOf [this, maxLength 0]):
        # this branch must not match "" too, or "" would match both.
        return f"^[^{refused}]+$"
    return f"^[^{refused}]*[^{refused}{_ALL_SPACES}][^{refused}]*$"


def text_field_pattern(field) -> str | None:
    """The pattern for a request field of DRF type CharField (None: not a text field)."""
    if isinstance(field, Email):
        return EMAIL_PATTERN
    if not isinstance(field, drf_serializers.CharField):
        return None
    multiline = getattr(field, "multiline", None) if isinstance(field, Text) else None
    blank = field.allow_blank or not getattr(field, "trim_whitespace", True)
    return text_pattern(multiline=multiline, blank=blank)


def config_schema(description: str) -> dict:
    """``System.config``: the settings some connector reads, each a flat scalar.

    Which of them a system may hold depends on its kind, and where they point on the
    deployment's allowlist (access.system_config): the schema names every key any
    kind reads and the values they may take, the service the rest.
    """
    from access.system_config import MULTILINE_MAX, multiline_keys
    from revocation.connectors.registry import CONNECTORS, connector_meta

    keys = sorted(set().union(*(connector_meta(kind).config_keys for kind in CONNECTORS)))
    multiline = set().union(*(multiline_keys(kind) for kind in CONNECTORS))

    def value(key: str) -> dict:
        text = (
            {
                "type": "string",
                "maxLength": MULTILINE_MAX,
                "pattern": f"^[^{_CONTROLS_MULTILINE}]*$",
            }
            if key in multiline
            else {"type": "string", "maxLength": 1000, "pattern": f"^[^{_CONTROLS}]*$"}
        )
        return {
            "anyOf": [text, {"type": "integer"}, {"type": "number"}, {"type": "boolean"}],
            "nullable": True,
        }

    return {
        "type": "object",
        "nullable": True,
        "description": description,
        "properties": {key: value(key) for key in keys},
        "additionalProperties": False,
        "maxProperties": 30,
    }


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

    def _get_parameters(self):
        parameters = super()._get_parameters()
        for parameter in parameters:
            schema = parameter.get("schema", {})
            free_text = schema.get("type") == "string" and not {"enum", "format", "pattern"} & set(
                schema
            )
            # ?search= and the text filters go through Django form fields, which refuse
            # NUL with a 400; the schema says so. (?ordering= ignores what it does not know.)
            if parameter.get("in") == "query" and free_text and parameter["name"] != "ordering":
                parameter["schema"] = {**schema, "pattern": QUERY_TEXT_PATTERN}
        return parameters

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        if isinstance(field, ConfigField):
            return config_schema(str(field.help_text or ""))
        result = super()._map_serializer_field(field, direction, bypass_extensions)
        many = isinstance(field, drf_serializers.ManyRelatedField)
        if many and direction == "request" and not field.allow_empty:
            result["minItems"] = 1
        if direction == "request" and isinstance(field, drf_serializers.ListSerializer):
            # A batch of nested objects (usage events): as long as the serializer takes.
            # getattr: the stubs predate ListSerializer's min_length and max_length.
            least = getattr(field, "min_length", None) or 0
            most = getattr(field, "max_length", None)
            if not field.allow_empty or least:
                result["minItems"] = max(1, least)
            if most is not None:
                result["maxItems"] = most
        if direction == "request" and result.get("type") == "string" and "pattern" not in result:
            pattern = text_field_pattern(field)
            email = isinstance(field, drf_serializers.EmailField)
            if pattern and "enum" not in result and ("format" not in result or email):
                result["pattern"] = pattern
        return result

    def _map_basic_serializer(self, serializer, direction):
        result = super()._map_basic_serializer(serializer, direction)
        for prop in result.get("properties", {}).values():
            # "format: email" means RFC 5321 to schema validators (a local part of at most
            # 64 characters, ...) and something else to Django: the pattern alone says it.
            for branch in [prop, *prop.get("oneOf", [])]:
                if branch.get("format") == "email":
                    del branch["format"]
            # drf-spectacular's [that, or ""] for a blank-allowed field: with nothing left
            # to rule "" out of the first branch, "" would match both, so one is enough.
            branches = prop.get("oneOf", [])
            if len(branches) == 2 and not ({"format", "pattern", "minLength"} & set(branches[0])):
                prop.update(prop.pop("oneOf")[0])
        if direction == "request" and isinstance(self.view, AgencyScopedViewSet):
            # The body takes exactly these fields (api.viewsets.unexpected_fields refuses
            # others), and an update none of those fixed at creation (Meta.immutable).
            result["additionalProperties"] = False
            meta = getattr(serializer, "Meta", None)
            if self.method == "PATCH":
                for name in getattr(meta, "immutable", ()):
                    result.get("properties", {}).pop(name, None)
                    if name in result.get("required", []):
                        result["required"].remove(name)
                # "Sending end_date needs a change_reason that is not blank", as JSON
                # Schema says it: either none of the triggers, or the reason.
                for needed, triggers in getattr(meta, "reason_required_with", {}).items():
                    reason = {
                        "type": "string",
                        "pattern": text_pattern(multiline=True, blank=False),
                    }
                    result.setdefault("allOf", []).append(
                        {
                            "anyOf": [
                                {"not": {"anyOf": [{"required": [t]} for t in triggers]}},
                                {"required": [needed], "properties": {needed: reason}},
                            ]
                        }
                    )
        return result

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
