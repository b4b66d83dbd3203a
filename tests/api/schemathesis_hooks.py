"""schemathesis hooks for tests/api/fuzzing.py (loaded by the CLI via SCHEMATHESIS_HOOKS).

"Schema-valid request rejected" means the schema let a request through that the API
refused. Most such findings are the schema's or the API's fault and get fixed; a few
rules no JSON schema can state: whether an object exists (and is yours), what state it
is in, and what the deployment allows. A 400 whose every field message is one of those
rules, on an operation that has that rule, is excused here, and counted: nothing else.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

import schemathesis
from schemathesis.openapi.checks import RejectedPositiveData


@dataclass(frozen=True)
class Rule:
    why: str
    operations: str  # regex over "METHOD /path"
    field: str  # regex over the field name in error.fields
    message: str  # regex over the message


ANY_WRITE = r"^(POST|PATCH) "
RULES = (
    Rule(
        "a related object that does not exist or is not the token's to write to",
        ANY_WRITE,
        r"^(agency|vendor|system|contracts|events\[\d+\]\.system)$",
        r'^Invalid pk "[^"]*" - object does not exist\.$',
    ),
    Rule(
        "a reported login later than the server's clock (a schema has no 'now')",
        r"^POST /api/v1/usage-events/$",
        r"^events\[\d+\]\.occurred_at$",
        r"^A login cannot be in the future\.$",
    ),
    Rule(
        "contracts of another vendor (which contract is whose is data, not schema)",
        r"^(POST|PATCH) /api/v1/credentials/|^POST /api/v1/findings/\{id\}/adopt/$",
        r"^contracts$",
        r"^Every contract must belong to the credential's vendor\.$",
    ),
    Rule(
        "an end date before the start date (JSON Schema cannot compare two fields)",
        r"^(POST|PATCH) /api/v1/contracts/",
        r"^end_date$",
        r"^The end date must not be before the start date\.$",
    ),
    Rule(
        "settings of another kind, or a destination the deployment does not allow",
        r"^(POST|PATCH) /api/v1/systems/",
        r"^config$",
        r"is not a setting of \w+ systems|not allowed|is not a|must be|needs? |"
        r"could not|out of range|invalid|must start with",
    ),
    Rule(
        "a termination date outside the contract's stored dates",
        r"^POST /api/v1/contracts/\{id\}/terminate/$",
        r"^effective_date$",
        r"^Termination cannot be (after the contract's end|before the contract's start) date\.$",
    ),
    Rule(
        "a name, reference or identifier already taken in the agency",
        ANY_WRITE,
        r".*",
        r"already exists|already registered|already has this|conflicts with an existing record",
    ),
    Rule(
        "a system whose lifecycle is decommissioned (its state, not the request's)",
        r"^POST /api/v1/(credentials|findings/\{id\}/adopt)/$",
        r"^system$",
        r"^The system is decommissioned; it cannot hold new credentials\.$",
    ),
    Rule(
        "a review campaign's deadline in the past, a scope without (or with) its vendor or "
        "system, or a blank name (cross-field and clock rules)",
        r"^POST /api/v1/review-campaigns/$",
        r"^(deadline|vendor|system|name)$",
        r"must be in the future|names its (vendor|system)|agency's own|Name the campaign",
    ),
    Rule(
        "review answers: keep needs a reason; items that are not waiting for this user; a "
        "reviewer who cannot see the agency (which items and users exist is data)",
        r"^POST /api/v1/review-(items/decide|items/\{id\}/decide|campaigns/\{id\}/reassign)/$",
        r"^(reason|items|reviewer|from_reviewer)$",
        r"still needed|waits for your answer|must be able to see|No such user",
    ),
    Rule(
        "an action the object's current state does not allow",
        r"^POST /api/v1/[\w-]+/\{id\}/\w[\w-]*/$",
        r"^non_field_errors$",
        r".",
    ),
    Rule(
        "a change the contract's state does not allow (ended, or terminated and extended)",
        r"^PATCH /api/v1/contracts/\{id\}/$",
        r"^(non_field_errors|end_date)$",
        r"^Access under this contract has already ended; record a new contract instead\.$|"
        r"^A terminated contract cannot be extended; record a new contract\.$",
    ),
)

_excused_path = os.environ.get("SUNDOWN_FUZZ_EXCUSED")


def _fields(response) -> dict[str, list[str]] | None:
    try:
        body = json.loads(response.content)
    except (ValueError, TypeError):
        return None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or error.get("status") != 400:
        return None
    fields = error.get("fields")
    return fields if isinstance(fields, dict) and fields else None


def excusing_rule(label: str, fields: dict[str, list[str]]) -> Rule | None:
    """The one rule that covers every message of the answer, or None."""
    found = None
    for name, messages in fields.items():
        for message in messages:
            rule = next(
                (
                    r
                    for r in RULES
                    if re.search(r.operations, label)
                    and re.search(r.field, name)
                    and re.search(r.message, message)
                ),
                None,
            )
            if rule is None:
                return None
            found = found or rule
    return found


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    if not isinstance(failure, RejectedPositiveData) or response is None:
        return True
    fields = _fields(response)
    if fields is None:
        return True
    label = f"{case.method.upper()} {case.operation.path}"
    rule = excusing_rule(label, fields)
    if rule is None:
        return True
    if _excused_path:
        with open(_excused_path, "a") as out:
            out.write(json.dumps({"rule": rule.why, "operation": label}) + "\n")
    return False
