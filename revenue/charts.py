"""Revenue over time as an inline SVG bar chart, drawn on the server (no JavaScript, no CDN)."""

from decimal import Decimal

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 640, 240, 56, 28, 12


def bar_chart(series: list[dict]) -> SafeString:
    """series: [{"month": date, "share": Decimal, "count": int}], oldest first. Accessible: a title, a description
    and one labelled <title> per bar; the same figures are in the table next to it."""
    top = max((row["share"] for row in series), default=Decimal("0"))
    top = top if top > 0 else Decimal("1")
    plot_w, plot_h = WIDTH - PAD_LEFT - 8, HEIGHT - PAD_BOTTOM - PAD_TOP
    step = plot_w / max(len(series), 1)
    bars = []
    for i, row in enumerate(series):
        share = max(row["share"], Decimal("0"))
        h = float(share / top) * plot_h
        x = PAD_LEFT + i * step + step * 0.15
        y = PAD_TOP + plot_h - h
        label = f"{row['month']:%b %Y}: {row['share']} ({row['count']} transactions)"
        bars.append((f"{x:.1f}", f"{y:.1f}", f"{step * 0.7:.1f}", f"{h:.1f}", label,
                     f"{x + step * 0.35:.1f}", f"{HEIGHT - 10}", f"{row['month']:%b}"))
    body = format_html_join(
        "",
        '<g><rect x="{}" y="{}" width="{}" height="{}" class="chart-bar"><title>{}</title></rect>'
        '<text x="{}" y="{}" text-anchor="middle" class="chart-label">{}</text></g>',
        bars,
    )
    axis = format_html(
        '<line x1="{}" y1="{}" x2="{}" y2="{}" class="chart-axis"/>'
        '<text x="{}" y="{}" text-anchor="end" class="chart-label">{}</text>'
        '<text x="{}" y="{}" text-anchor="end" class="chart-label">0</text>',
        PAD_LEFT, PAD_TOP + plot_h, WIDTH - 8, PAD_TOP + plot_h,
        PAD_LEFT - 6, PAD_TOP + 10, top, PAD_LEFT - 6, PAD_TOP + plot_h,
    )
    return format_html(
        '<svg class="revenue-chart" role="img" aria-labelledby="chart-title chart-desc" viewBox="0 0 {} {}" '
        'xmlns="http://www.w3.org/2000/svg"><title id="chart-title">Your revenue share per month</title>'
        '<desc id="chart-desc">Bar chart of the last {} months; the table below lists the same figures.</desc>'
        "{}{}</svg>",
        WIDTH, HEIGHT, len(series), axis, mark_safe(body),  # noqa: S308 - built with format_html_join above
    )
