"""The SVG chart and duration helpers render what the home page relies on."""

import datetime as dt

from dashboard.templatetags.dashboard_tags import bar_chart, duration


def test_bar_chart_is_csp_safe_svg_with_one_bar_per_week():
    start = dt.date(2026, 1, 1)
    bars = [
        {
            "first": start + dt.timedelta(days=7 * i),
            "last": start + dt.timedelta(days=7 * i + 6),
            "count": i,
        }
        for i in range(13)
    ]
    svg = str(bar_chart(bars, "Contract <ends>", "c1"))
    assert svg.startswith("<svg") and svg.count("<rect") == 13
    assert "style=" not in svg and "<script" not in svg
    assert "Contract &lt;ends&gt;" in svg  # titles are escaped
    assert "78 in total" in svg


def test_duration_reads_like_a_person_would_say_it():
    assert duration(dt.timedelta(days=2, hours=5)) == "2 days 5 h"
    assert duration(dt.timedelta(hours=3, minutes=7)) == "3 h 7 min"
    assert duration(dt.timedelta(minutes=4)) == "4 min"
    assert duration(dt.timedelta(seconds=-5)) == "0 min"
