"""The API's JSON parser: DRF's, with limits a request body cannot get past.

Without them a body nested a thousand deep is a RecursionError (a 500) in the
parser, one nested 900 deep is stored and breaks every page that renders it, and a
lone surrogate (``"\\udfff"``) reaches the database as an encoding error.
"""

from __future__ import annotations

import json

from django.conf import settings
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.settings import api_settings

from config.json_depth import MAX_DEPTH
from config.text import SURROGATE


def _non_field() -> str:
    # api.exceptions.NON_FIELD, read from DRF's settings: api.exceptions imports DRF's
    # views, which load this parser through REST_FRAMEWORK's settings (an import cycle).
    return api_settings.NON_FIELD_ERRORS_KEY


class RequestTooLarge(ParseError):
    status_code = 413
    default_detail = "The request body is too large."
    default_code = "too_large"


def json_problem(data, max_depth: int = MAX_DEPTH) -> tuple[str, str] | None:
    """(top-level field, why) for parsed JSON that is refused (too deep, or text that
    cannot be stored), or None. Iterative, so hostile input cannot exhaust the stack."""
    stack: list[tuple[object, int, str]] = [(data, 1, _non_field())]
    while stack:
        value, depth, field = stack.pop()
        if isinstance(value, dict | list):
            if depth > max_depth:
                return field, f"Nested deeper than {max_depth} levels."
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                name = str(key) if depth == 1 and isinstance(value, dict) else field
                if isinstance(key, str):
                    problem = _unstorable(key)
                    if problem:
                        return field, f"Object keys {problem}."
                stack.append((item, depth + 1, name))
        elif isinstance(value, str):
            problem = _unstorable(value)
            if problem:
                return field, f"Text {problem}."
    return None


def _unstorable(text: str) -> str | None:
    # What no field can store (as DRF's CharField refuses too); which control characters
    # a field allows is that field's rule (one-line names: config.modeling).
    if "\x00" in text:
        return "must not contain NUL characters"
    if SURROGATE.search(text):
        return "must be valid Unicode (no lone surrogates)"
    return None


def _no_constants(name: str):
    raise ValueError(f"{name} is not valid JSON")  # NaN, Infinity: as DRF's strict mode


class LimitedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.SUNDOWN_API_MAX_BODY_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise RequestTooLarge()
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            data = json.loads(raw.decode(encoding), parse_constant=_no_constants) if raw else {}
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        except RecursionError as exc:
            raise ParseError(f"JSON nested deeper than {MAX_DEPTH} levels.") from exc
        problem = json_problem(data)
        if problem:
            field, message = problem
            raise ValidationError({field: [message]})
        return data
