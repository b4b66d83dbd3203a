"""Template helpers: navigation permissions, SVG bar charts, status tags, durations,
times with their zone, numbers."""

import datetime as dt
import json
from typing import Any

from django import template
from django.utils import dateformat
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince, timeuntil

from dashboard.access_control import connector_error_readers, display_zone, held_perms
from revocation.selectors import connector_error_shown

register = template.Library()

_STATUS_TAGS = {
    "active": "sd-tag--active",
    "pending": "sd-tag--pending",
    "revoked": "sd-tag--revoked",
    "confirmed": "sd-tag--pending",
    "failed": "sd-tag--failed",
    "open": "sd-tag--pending",
    "done": "sd-tag--revoked",
    "succeeded": "sd-tag--revoked",
    "running": "sd-tag--pending",
    "ended": "sd-tag--revoked",
    "terminated": "sd-tag--failed",
    "suspended": "sd-tag--failed",
    "offboarding": "sd-tag--pending",
    "offboarded": "sd-tag--revoked",
    # Findings: triage status and severity.
    "acknowledged": "sd-tag--pending",
    "resolved": "sd-tag--revoked",
    "false_positive": "sd-tag--revoked",
    "critical": "sd-tag--failed",
    "high": "sd-tag--failed",
    "medium": "sd-tag--pending",
}


@register.simple_tag(takes_context=True)
def nav_perms(context) -> dict:
    """{'revoke_access': True, ...}: what the user may do in at least one agency."""
    request = context.get("request")
    if request is None:
        return {}
    return {perm.split(".", 1)[1]: True for perm in held_perms(request)}


@register.simple_tag(takes_context=True)
def connector_error(context, obj, text: str, summary: str | None = None) -> str:
    """A connector's error on ``obj`` for those who may read the audit trail of its
    agency; ``summary`` (or a neutral label) for everyone else (as the API, which needs
    VIEW_AUDIT)."""
    request = context.get("request")
    readers = connector_error_readers(request) if request is not None else frozenset()
    return connector_error_shown(text, obj=obj, readers=readers, summary=summary)


@register.filter
def status_tag(value: str, label: str | None = None):
    css = _STATUS_TAGS.get(str(value), "")
    return format_html('<span class="usa-tag sd-tag {}">{}</span>', css, label or value)


def _utc_iso(value):
    """Datetimes in audit JSON, whatever offset they were recorded with, as UTC 'Z'."""
    if isinstance(value, dict):
        return {k: _utc_iso(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_utc_iso(v) for v in value]
    if isinstance(value, str) and len(value) >= 20 and value[4:5] == "-" and "T" in value:
        try:
            parsed = parse_datetime(value)
        except ValueError:
            return value
        if parsed is not None and parsed.tzinfo is not None:
            return parsed.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return value


@register.filter
def demo_tag(label: str):
    """A system's ``demo_label`` ("demo: host does not exist") as a tag beside its name,
    so the demo's placeholder systems explain their failures; nothing for real ones."""
    if not label:
        return ""
    return format_html(' <span class="usa-tag sd-tag sd-tag--demo">{}</span>', label)


@register.filter
def pretty_json(value) -> str:
    if value is None:
        return ""
    return json.dumps(_utc_iso(value), indent=2, sort_keys=True, ensure_ascii=False)


def _aware(value) -> dt.datetime | None:
    if isinstance(value, str):
        value = parse_datetime(value)
    if not isinstance(value, dt.datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _zone(context, agency: Any) -> dt.tzinfo:
    if agency is not None and hasattr(agency, "tz"):
        return agency.tz
    request = context.get("request")
    return display_zone(request) if request is not None else dt.UTC


@register.simple_tag(takes_context=True)
def when(context, value, fmt: str = "Y-m-d H:i", agency=None, empty: str = "—"):
    """A moment in the agency's zone, named ("2026-12-07 14:05 CET"), with UTC in the
    title and a machine-readable datetime. ``agency`` defaults to the zone the user's
    agencies share (dashboard.access_control.display_zone)."""
    moment = _aware(value)
    if moment is None:
        return empty
    local = moment.astimezone(_zone(context, agency))
    utc = moment.astimezone(dt.UTC)
    return format_html(
        '<time datetime="{}" title="{} UTC">{} {}</time>',
        utc.isoformat().replace("+00:00", "Z"),
        dateformat.format(utc, "Y-m-d H:i:s"),
        dateformat.format(local, fmt),
        local.tzname(),
    )


@register.filter
def agency_time(value, agency) -> str:
    """A moment for plain text (mail), where no title can carry UTC: the agency's wall
    clock, its zone, and UTC beside it ("2030-01-15 17:00 CET (16:00 UTC)")."""
    moment = _aware(value)
    if moment is None:
        return ""
    local = moment.astimezone(agency.tz)
    utc = moment.astimezone(dt.UTC)
    same_day = local.date() == utc.date()
    return (
        f"{dateformat.format(local, 'Y-m-d H:i')} {local.tzname()} "
        f"({dateformat.format(utc, 'H:i' if same_day else 'Y-m-d H:i')} UTC)"
    )


@register.simple_tag(takes_context=True)
def ago(context, value, agency=None, empty: str = "—"):
    """'3 hours ago' or 'in 2 days', with the moment itself (agency zone and UTC) in the title."""
    moment = _aware(value)
    if moment is None:
        return empty
    local = moment.astimezone(_zone(context, agency))
    now = dt.datetime.now(dt.UTC)
    words = f"{timesince(moment, now)} ago" if moment <= now else f"in {timeuntil(moment, now)}"
    return format_html(
        '<time datetime="{}" title="{} {} ({} UTC)">{}</time>',
        moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        dateformat.format(local, "Y-m-d H:i"),
        local.tzname(),
        dateformat.format(moment.astimezone(dt.UTC), "Y-m-d H:i"),
        words,
    )


@register.filter
def number(value) -> str:
    """18000000 -> '18,000,000' (not USE_THOUSAND_SEPARATOR: ids in URLs must stay bare)."""
    if value is None or value == "":
        return "—"
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


@register.filter
def millis(value) -> str:
    """A call's duration: '0 ms', '840 ms', '2.4 s'; '—' when it never finished."""
    if value is None or value == "":
        return "—"
    ms = int(value)
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


@register.filter
def duration(value: dt.timedelta | None) -> str:
    """'3 days 4 h', '2 h 5 min', '40 min': how long something has been exposed."""
    if value is None:
        return ""
    seconds = max(int(value.total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} day{'s' if days != 1 else ''} {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


@register.simple_tag
def bar_chart(bars: list[dict], title: str, chart_id: str):
    """A server-rendered SVG bar chart (no scripts, no inline styles: CSP-safe).

    ``bars`` are dicts with ``first``, ``last`` (dates) and ``count``.
    """
    width, height, top, bottom, left = 640, 200, 20, 40, 32
    plot_h = height - top - bottom
    n = max(len(bars), 1)
    slot = (width - left) / n
    peak = max([b["count"] for b in bars] + [1])
    rects = []
    for i, bar in enumerate(bars):
        h = round(plot_h * bar["count"] / peak, 1)
        x = round(left + i * slot + slot * 0.15, 1)
        y = round(top + plot_h - h, 1)
        label = f"{bar['first']:%b %d}–{bar['last']:%b %d}: {bar['count']}"
        rects.append(
            (
                x,
                y,
                round(slot * 0.7, 1),
                max(h, 0),
                label,
                round(x + slot * 0.35, 1),
                height - bottom + 16,
                f"{bar['first']:%d %b}",
                round(x + slot * 0.35, 1),
                max(y - 4, 12),
                bar["count"] if bar["count"] else "",
            )
        )
    body = format_html_join(
        "",
        '<g><rect class="sd-bar" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>'
        '<text class="sd-axis" x="{}" y="{}" text-anchor="middle">{}</text>'
        '<text class="sd-value" x="{}" y="{}" text-anchor="middle">{}</text></g>',
        rects,
    )
    total = sum(b["count"] for b in bars)
    return format_html(
        '<svg class="sd-chart" viewBox="0 0 {w} {h}" role="img" aria-labelledby="{id}-t {id}-d"'
        ' preserveAspectRatio="xMidYMid meet">'
        '<title id="{id}-t">{title}</title><desc id="{id}-d">{total} in total, weekly bars.</desc>'
        '<line class="sd-baseline" x1="{left}" y1="{base}" x2="{w}" y2="{base}"></line>'
        "{body}</svg>",
        w=width,
        h=height,
        id=chart_id,
        title=title,
        total=total,
        left=left,
        base=top + plot_h,
        body=body,
    )
