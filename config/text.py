"""What text Sundown stores: valid Unicode, and no control characters where none belong.

A lone surrogate (JSON ``"\\udfff"``) cannot be encoded for the database (a 500),
NUL cannot be stored in PostgreSQL text, and a line break in a one-line name ends
up in mail headers and log lines. One check, used by the services (through
``save_validated``), the config rules and the API's JSON parser.
"""

from __future__ import annotations

import re

# C0 and C1 controls and DEL. Tab, line feed and carriage return are allowed only
# in multi-line text (reasons, notes, privileges).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
SURROGATE = re.compile(r"[\ud800-\udfff]")
# Bidirectional controls (embeddings and overrides U+202A-202E, isolates U+2066-2069,
# the LRM/RLM marks U+200E/200F): in a name they make "role\u202egnp.exe" read as
# "roleexe.png", on the very pages that show what will be revoked, and in a reason or a
# note they reorder what the audit trail says was done. Refused in all text people
# type, one line or several; the dashboard shows any that older rows hold as visible
# code points (dashboard.middleware.BidiControlsMiddleware).
BIDI_CONTROLS = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
BIDI = re.compile(f"[{BIDI_CONTROLS}]")


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why ``value`` may not be stored, or None."""
    if SURROGATE.search(value):
        return "must be valid Unicode (no lone surrogates)"
    if "\x00" in value:
        return "must not contain NUL characters"
    if (_CONTROL_MULTILINE if multiline else _CONTROL).search(value):
        return (
            "must not contain control characters"
            if multiline
            else "must be one line without control characters"
        )
    if found := BIDI.search(value):
        return (
            f"must not contain bidirectional control characters "
            f"(found U+{ord(found.group()):04X}, which reorders how the text reads)"
        )
    return None


def one_line(value: str, limit: int = 200) -> str:
    """``value`` made safe for a mail header or log line: controls become spaces."""
    cleaned = SURROGATE.sub("\ufffd", BIDI.sub("", _CONTROL.sub(" ", value)))
    return " ".join(cleaned.split())[:limit]
