"""JSON nested too deep to read the usual way: rows stored before the depth limit.

The API refuses bodies nested deeper than ``MAX_DEPTH`` (api.parsers), but rows written
before that limit existed may hold a system config or an audit event nested ~900 deep.
Python's json module and everything that walks such a value (templates, DRF's renderer,
``json.dumps``) recurse once per level, so one such row was a RecursionError (a 500)
on every page and API list that showed it.

``BoundedJSONField`` reads those rows without recursion: what lies deeper than
``MAX_DEPTH`` levels becomes the text ``TRUNCATED``, and the value is marked
(``Truncated``) so a page can say so. Audit rows can never be rewritten, and their hash
covers every byte: a truncated value keeps the canonical text of the whole stored value
(``Truncated.canonical``), which ``audit.hashing`` uses instead, so the chain, Merkle
leaves and evidence packs stay exact. ``canonical_text`` gives the same text for JSON
read as text (the chain check).
"""

from __future__ import annotations

import json
import re

from django.db import models
from django.db.models.fields.json import KeyTransform

MAX_DEPTH = 20
TRUNCATED = f"[nested deeper than {MAX_DEPTH} levels; shown truncated]"

_encode_str = json.encoder.encode_basestring
_scanstring = json.decoder.scanstring  # type: ignore[attr-defined]
_NUMBER = re.compile(r"(-?(?:0|[1-9]\d*))(\.\d+)?([eE][-+]?\d+)?")
_SPACE = re.compile(r"[ \t\n\r]*")
_BRACKETS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_LITERALS = {"true": True, "false": False, "null": None}
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


class Truncated:
    """A value read with its deepest levels cut off; ``canonical`` is the stored whole."""

    canonical: str


class TruncatedDict(dict, Truncated):
    pass


class TruncatedList(list, Truncated):
    pass


def nested_deeper_than(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON ``text`` has containers more than ``limit`` levels deep."""
    if text.count("{") + text.count("[") <= limit:
        return False  # the usual row: too few brackets to be that deep
    depth = 0
    for match in _BRACKETS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                return True
        elif token in "]}":
            depth -= 1
    return False


def loads(text: str):
    """``json.loads`` without recursion, for any depth."""
    stack: list[list] = []  # [container, key of the value being read]
    end = len(text)
    i = _SPACE.match(text, 0).end()  # type: ignore[union-attr]
    while True:
        if i >= end:
            raise ValueError("unexpected end of JSON")
        char = text[i]
        if char in "{[":
            container: dict | list = {} if char == "{" else []
            i = _SPACE.match(text, i + 1).end()  # type: ignore[union-attr]
            if i < end and text[i] == ("}" if char == "{" else "]"):
                value: object = container
                i += 1
            else:
                stack.append([container, None])
                if char == "{":
                    i = _key(text, i, stack[-1])
                continue
        elif char == '"':
            value, i = _scanstring(text, i + 1)
        elif (number := _NUMBER.match(text, i)) is not None:
            whole, fraction, exponent = number.groups()
            value = float(number.group()) if fraction or exponent else int(whole)
            i = number.end()
        else:
            word = text[i : i + 5] if text.startswith("false", i) else text[i : i + 4]
            if word not in _LITERALS:
                raise ValueError(f"invalid JSON at {i}")
            value, i = _LITERALS[word], i + len(word)
        # A value is read: put it in its container, then close what ends here.
        while True:
            i = _SPACE.match(text, i).end()  # type: ignore[union-attr]
            if not stack:
                if i != end:
                    raise ValueError(f"extra data at {i}")
                return value
            top = stack[-1]
            if isinstance(top[0], dict):
                top[0][top[1]] = value
            else:
                top[0].append(value)
            if i < end and text[i] == ",":
                i = _SPACE.match(text, i + 1).end()  # type: ignore[union-attr]
                if isinstance(top[0], dict):
                    i = _key(text, i, top)
                break
            if i >= end or text[i] != ("}" if isinstance(top[0], dict) else "]"):
                raise ValueError(f"invalid JSON at {i}")
            i += 1
            value = stack.pop()[0]


def _key(text: str, i: int, top: list) -> int:
    if not text.startswith('"', i):
        raise ValueError(f"expected a key at {i}")
    top[1], i = _scanstring(text, i + 1)
    i = _SPACE.match(text, i).end()  # type: ignore[union-attr]
    if not text.startswith(":", i):
        raise ValueError(f"expected ':' at {i}")
    return _SPACE.match(text, i + 1).end()  # type: ignore[union-attr]


def dumps_canonical(value) -> str:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
    without recursion, for any depth."""
    out: list[str] = []
    todo: list[tuple[bool, object]] = [(False, value)]  # (is literal text, item)
    while todo:
        literal, item = todo.pop()
        if literal:
            out.append(item)  # type: ignore[arg-type]
        elif isinstance(item, dict):
            parts: list[tuple[bool, object]] = [(True, "{")]
            for n, (key, member) in enumerate(sorted(item.items())):
                parts += [(True, ("," if n else "") + _encode_str(key) + ":"), (False, member)]
            parts.append((True, "}"))
            todo.extend(reversed(parts))
        elif isinstance(item, list):
            parts = [(True, "[")]
            for n, member in enumerate(item):
                parts += [(True, ","), (False, member)] if n else [(False, member)]
            parts.append((True, "]"))
            todo.extend(reversed(parts))
        else:
            out.append(_CANONICAL(item))  # a scalar: the encoder's own spelling
    return "".join(out)


def truncated(value, limit: int = MAX_DEPTH):
    """A copy of ``value`` with containers deeper than ``limit`` levels as ``TRUNCATED``."""
    if not isinstance(value, dict | list):
        return value
    root: dict | list = TruncatedDict() if isinstance(value, dict) else TruncatedList()
    todo: list[tuple[dict | list, dict | list, int]] = [(value, root, 1)]
    while todo:
        source, copy, depth = todo.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, member in items:
            if isinstance(member, dict | list):
                if depth >= limit:
                    member_copy: object = TRUNCATED
                else:
                    container: dict | list = {} if isinstance(member, dict) else []
                    todo.append((member, container, depth + 1))
                    member_copy = container
            else:
                member_copy = member
            if isinstance(copy, dict):
                copy[key] = member_copy
            else:
                copy.append(member_copy)
    return root


def read_bounded(text: str):
    """The stored JSON ``text`` as Python, cut at ``MAX_DEPTH`` when it is deeper."""
    if not nested_deeper_than(text):
        return json.loads(text)
    whole = loads(text)
    value = truncated(whole)
    value.canonical = dumps_canonical(whole)
    return value


def canonical_text(text: str) -> str:
    """Canonical text (sorted keys, compact, UTF-8 as is) of the JSON ``text``."""
    if nested_deeper_than(text):
        return dumps_canonical(loads(text))
    return _CANONICAL(json.loads(text))


class BoundedJSONField(models.JSONField):
    """A JSONField whose stored rows, however deep, read without a RecursionError."""

    def from_db_value(self, value, expression, connection):
        whole = isinstance(value, str) and not isinstance(expression, KeyTransform)
        if whole and nested_deeper_than(value):
            return read_bounded(value)
        return super().from_db_value(value, expression, connection)

    def deconstruct(self):
        # Stored exactly as a JSONField: migrations need not know the reading differs.
        name, _, args, kwargs = super().deconstruct()
        return name, "django.db.models.JSONField", args, kwargs
