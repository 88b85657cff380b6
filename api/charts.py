"""Small server-rendered SVG charts for the dashboard: no JavaScript, no build step."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 560, 120, 4


def bars(values: Sequence[int], title: str, color: str = "#2563eb") -> Markup:
    """A bar per value, scaled to the largest; the title and the maximum as text."""
    top = max(values, default=0) or 1
    step = (WIDTH - 2 * PAD) / max(1, len(values))
    rects = []
    for i, value in enumerate(values):
        h = (HEIGHT - 2 * PAD) * value / top
        rects.append(f'<rect x="{PAD + i * step:.1f}" y="{HEIGHT - PAD - h:.1f}" '
                     f'width="{max(1.0, step - 2):.1f}" height="{h:.1f}" fill="{color}">'
                     f"<title>{value}</title></rect>")
    return Markup(
        f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="100%" height="{HEIGHT}"><rect width="{WIDTH}" height="{HEIGHT}" '
        f'fill="#f8fafc"/>{"".join(rects)}<text x="{PAD + 4}" y="14" font-size="11" '
        f'fill="#475569">max {max(values, default=0)}</text></svg>')
