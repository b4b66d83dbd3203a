"""Audit events as OCSF 1.x events (Open Cybersecurity Schema Framework), for SIEMs.

Which class each action becomes:

- Account Change (3001): revocations (requested, failed, done), lockouts, second
  factors enrolled, API tokens created and revoked;
- Authentication (3002): sign-ins, failed sign-ins, sign-outs, second-factor checks,
  refused API tokens;
- User Access Management (3005): credentials registered and roles granted or taken
  away (privileges assigned to or revoked from an account);
- Detection Finding (2004): ``finding.*`` events (reconciliation findings);
- Entity Management (3004): every other change (vendors, contracts, systems, ...),
  so the SIEM receives the whole trail and not a selection.

Every event keeps its Sundown identity: ``metadata.uid`` is the event's chain hash,
``metadata.sequence`` its seq, ``metadata.event_code`` the action, and
``unmapped.sundown`` the target and before/after exactly as recorded.
"""

import json
from datetime import datetime
from importlib import metadata as importlib_metadata

from audit.hashing import format_time

OCSF_VERSION = "1.5.0"

try:
    PRODUCT_VERSION = importlib_metadata.version("sundown")
except importlib_metadata.PackageNotFoundError:  # running from a bare checkout
    PRODUCT_VERSION = "0"

ACCOUNT_CHANGE = 3001
AUTHENTICATION = 3002
ENTITY_MANAGEMENT = 3004
USER_ACCESS = 3005
DETECTION_FINDING = 2004

_CLASSES = {
    ACCOUNT_CHANGE: ("Account Change", 3),
    AUTHENTICATION: ("Authentication", 3),
    ENTITY_MANAGEMENT: ("Entity Management", 3),
    USER_ACCESS: ("User Access Management", 3),
    DETECTION_FINDING: ("Detection Finding", 2),
}
_CATEGORIES = {2: "Findings", 3: "Identity & Access Management"}

# Activity captions per class, as the OCSF 1.5 schema names them.
_ACTIVITIES = {
    ACCOUNT_CHANGE: {1: "Create", 5: "Disable", 6: "Delete", 9: "Lock", 10: "MFA Factor Enable"},
    AUTHENTICATION: {1: "Logon", 2: "Logoff"},
    ENTITY_MANAGEMENT: {1: "Create", 3: "Update", 4: "Delete", 12: "Suspend"},
    USER_ACCESS: {1: "Assign Privileges", 2: "Revoke Privileges"},
    DETECTION_FINDING: {1: "Create", 2: "Update", 3: "Close"},
}
OTHER = 99

SUCCESS, FAILURE = 1, 2
_STATUS = {SUCCESS: "Success", FAILURE: "Failure"}
INFORMATIONAL, LOW, MEDIUM, HIGH, CRITICAL = 1, 2, 3, 4, 5
_SEVERITY = {1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical"}
_FINDING_SEVERITY = {"low": LOW, "medium": MEDIUM, "high": HIGH, "critical": CRITICAL}
# OCSF finding status ids: New, In Progress, Suppressed, Resolved (Sundown's triage states).
_FINDING_STATUS = {
    "open": (1, "New"),
    "acknowledged": (2, "In Progress"),
    "false_positive": (3, "Suppressed"),
    "resolved": (4, "Resolved"),
}

# action -> (class, activity id or OTHER with its name, status, severity)
_MAP: dict[str, tuple[int, int | str, int | None, int]] = {
    "auth.login": (AUTHENTICATION, 1, SUCCESS, INFORMATIONAL),
    "auth.login_failed": (AUTHENTICATION, 1, FAILURE, LOW),
    "auth.logout": (AUTHENTICATION, 2, SUCCESS, INFORMATIONAL),
    "auth.otp_verified": (AUTHENTICATION, 1, SUCCESS, INFORMATIONAL),
    "auth.otp_failed": (AUTHENTICATION, 1, FAILURE, LOW),
    "api.token_refused": (AUTHENTICATION, 1, FAILURE, LOW),
    "auth.otp_enrolled": (ACCOUNT_CHANGE, 10, SUCCESS, INFORMATIONAL),
    "auth.locked_out": (ACCOUNT_CHANGE, 9, SUCCESS, MEDIUM),
    "api_token.created": (ACCOUNT_CHANGE, 1, SUCCESS, INFORMATIONAL),
    "api_token.revoked": (ACCOUNT_CHANGE, 6, SUCCESS, INFORMATIONAL),
    # A revoked credential can no longer sign in on its target; whether the connector
    # deleted or disabled the account is the target's detail (in unmapped).
    "credential.revocation_requested": (ACCOUNT_CHANGE, "Revocation Requested", None, LOW),
    "credential.revoked": (ACCOUNT_CHANGE, 5, SUCCESS, INFORMATIONAL),
    "credential.revocation_attempt_failed": (ACCOUNT_CHANGE, 5, FAILURE, LOW),
    "credential.revocation_failed": (ACCOUNT_CHANGE, 5, FAILURE, HIGH),
    "credential.registered": (USER_ACCESS, 1, SUCCESS, INFORMATIONAL),
    "agency.role_granted": (USER_ACCESS, 1, SUCCESS, INFORMATIONAL),
    "agency.role_revoked": (USER_ACCESS, 2, SUCCESS, INFORMATIONAL),
    "vendor.kill_switch": (ENTITY_MANAGEMENT, 12, SUCCESS, HIGH),
    # A target stopped answering: vendor access Sundown decided to end stays live.
    "system.target_unreachable": (ENTITY_MANAGEMENT, "Target Unreachable", FAILURE, MEDIUM),
    "system.target_reachable": (ENTITY_MANAGEMENT, "Target Reachable", SUCCESS, INFORMATIONAL),
    "api.permission_denied": (ENTITY_MANAGEMENT, "Permission Denied", FAILURE, LOW),
}
_VERBS = {"created": 1, "updated": 3, "changed": 3, "deleted": 4}


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def _activity(class_uid: int, activity: int | str) -> tuple[int, str]:
    if isinstance(activity, str):
        return OTHER, activity
    return activity, _ACTIVITIES[class_uid][activity]


def _actor(record: dict) -> dict:
    kind = record["actor_type"]
    user: dict = {"name": record["actor_name"] or "anonymous"}
    if record["actor_id"]:
        user["uid"] = record["actor_id"]
    # OCSF user types: 1 User, 3 System, 99 Other (an API token names its own type).
    user["type_id"], user["type"] = {
        "user": (1, "User"),
        "system": (3, "System"),
        "token": (99, "API token"),
    }.get(kind, (0, "Unknown"))
    actor: dict = {"user": user, "app_name": "Sundown"}
    if record["request_id"]:
        actor["session"] = {"uid": record["request_id"]}
    return actor


def _target_account(record: dict) -> dict:
    """The account the event is about (a credential on a target, or a Sundown user)."""
    account: dict = {"name": record["target_repr"] or record["target_id"] or "unknown"}
    if record["target_id"]:
        account["uid"] = f"{record['target_type']}:{record['target_id']}"
    if record["target_type"] == "access.credential":
        account["type_id"], account["type"] = OTHER, "Vendor credential"
    return account


def _base(record: dict, class_uid: int, activity: int | str, status, severity: int) -> dict:
    class_name, category = _CLASSES[class_uid]
    activity_id, activity_name = _activity(class_uid, activity)
    event: dict = {
        "class_uid": class_uid,
        "class_name": class_name,
        "category_uid": category,
        "category_name": _CATEGORIES[category],
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": class_uid * 100 + activity_id,
        "type_name": f"{class_name}: {activity_name}",
        "time": _ms(record["occurred_at"]),
        "severity_id": severity,
        "severity": _SEVERITY[severity],
        "message": f"{record['action']} {record['target_repr']}".strip(),
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": "Sundown", "vendor_name": "Sundown", "version": PRODUCT_VERSION},
            "uid": record["hash"],
            "sequence": record["seq"],
            "event_code": record["action"],
            "log_name": "audit",
            "original_time": format_time(record["occurred_at"]),
        },
        "unmapped": {
            "sundown": {
                "seq": record["seq"],
                "hash": record["hash"],
                "prev_hash": record["prev_hash"],
                "action": record["action"],
                "target_type": record["target_type"],
                "target_id": record["target_id"],
                "target_repr": record["target_repr"],
                "agency_id": record["agency_id"],
                "before": record["before"],
                "after": record["after"],
            }
        },
    }
    if record["agency_id"] is not None:
        event["metadata"]["tenant_uid"] = str(record["agency_id"])
    if record["request_id"]:
        event["metadata"]["correlation_uid"] = record["request_id"]
    if status is not None:
        event["status_id"], event["status"] = status, _STATUS[status]
    if class_uid != DETECTION_FINDING:
        event["actor"] = _actor(record)
        if record["source_ip"]:
            event["src_endpoint"] = {"ip": record["source_ip"]}
    return event


def _finding(record: dict) -> dict:
    """Detection Finding from a ``finding.*`` event (the reconciliation's findings).

    Expects ``after`` to hold the finding's state: kind, severity, status, and what
    is known of the subject (system, account, vendor, credential, first/last seen).
    """
    state = {**(record["before"] or {}), **(record["after"] or {})}
    action = record["action"]
    activity = 1 if action == "finding.opened" else 3 if state.get("status") == "resolved" else 2
    severity = _FINDING_SEVERITY.get(str(state.get("severity", "")).lower(), MEDIUM)
    event = _base(record, DETECTION_FINDING, activity, None, severity)
    kind = str(state.get("kind") or "finding")
    info: dict = {
        "uid": record["target_id"] or record["hash"],
        "title": f"{kind}: {state.get('account') or record['target_repr']}",
        "types": [kind],
        "product": {"name": "Sundown", "vendor_name": "Sundown", "version": PRODUCT_VERSION},
    }
    for key, name in (("first_seen", "first_seen_time"), ("last_seen", "last_seen_time")):
        if state.get(key):
            info[name] = _ms(datetime.fromisoformat(str(state[key]).replace("Z", "+00:00")))
    event["finding_info"] = info
    status = _FINDING_STATUS.get(str(state.get("status", "")))
    if status:
        event["status_id"], event["status"] = status
    resources = []
    if state.get("system") is not None:
        resources.append({"uid": str(state["system"]), "type": "system"})
    if resources:
        event["resources"] = resources
    event["is_alert"] = severity >= HIGH
    return event


def ocsf_event(record: dict) -> dict:
    """The OCSF event for one audit record (the columns of ``audit.hashing.COLUMNS``)."""
    action = record["action"]
    if action.startswith("finding."):
        return _finding(record)
    mapped = _MAP.get(action)
    if mapped is None:
        verb = action.rsplit(".", 1)[-1]
        activity: int | str = _VERBS.get(verb, verb.replace("_", " ").title())
        mapped = (ENTITY_MANAGEMENT, activity, SUCCESS, INFORMATIONAL)
    class_uid, activity, status, severity = mapped
    event = _base(record, class_uid, activity, status, severity)
    after = record["after"] or {}
    before = record["before"] or {}
    if class_uid == AUTHENTICATION:
        user = _target_account(record)
        event["user"] = user
        event["service"] = {"name": "Sundown API" if action.startswith("api.") else "Sundown"}
        if action.startswith("auth.otp"):
            event["is_mfa"] = True
    elif class_uid == ACCOUNT_CHANGE:
        event["user"] = _target_account(record)
        if action == "credential.revocation_failed" or action.endswith("attempt_failed"):
            event["status_detail"] = str(after.get("error", ""))[:2000]
        elif action == "credential.revoked":
            # A SIEM must not count a person's word as a verified revocation.
            event["status_detail"] = (
                "verified on the target"
                if after.get("verified")
                else f"confirmed by {after.get('confirmed_by', 'a person')}, not verified"
            )
    elif class_uid == USER_ACCESS:
        event["user"] = _target_account(record)
        state = after or before
        if action == "credential.registered":
            privileges = [state.get("privileges") or state.get("kind") or "access"]
            event["resource"] = {"uid": str(state.get("system", "")), "type": "system"}
        else:
            privileges = [str(state.get("role", "role"))]
            event["resource"] = {"uid": str(state.get("agency", "")), "type": "agency"}
        event["privileges"] = [str(p) for p in privileges]
    elif class_uid == ENTITY_MANAGEMENT:
        entity: dict = {"name": record["target_repr"] or action}
        if record["target_id"]:
            entity["uid"] = record["target_id"]
        if record["target_type"]:
            entity["type"] = record["target_type"]
        event["entity"] = entity
    return event


def ocsf_line(record: dict) -> str:
    """One OCSF event as one line of ASCII JSON (what the sinks send)."""
    return json.dumps(ocsf_event(record), sort_keys=True, separators=(",", ":"))
