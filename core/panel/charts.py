"""Bar charts drawn on the server as SVG: no chart library, nothing from a CDN."""

from __future__ import annotations

from collections.abc import Callable

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 640, 160, 24


def bars(
    values: list[int], labels: list[str], number: Callable[[int], str] = str
) -> tuple[Markup, int]:
    """A chart's bars as one SVG fragment (each bar's day and value as its title), and the
    top of the scale. `number` writes a value as HTML-safe text (digits and the locale's
    separators; the caller formats each value once per process). Written here in one
    string: a year's four charts are 1,460 bars, and a template looping over bar objects
    (one Markup and two escapes each) was most of a 365-day page's Python time."""
    top = max([*values, 1])
    step = (WIDTH - 2 * PAD) / max(len(values), 1)
    width = f"{step * 0.8:.1f}"
    parts = []
    for index, (value, label) in enumerate(zip(values, labels, strict=True)):
        height = (HEIGHT - 2 * PAD) * max(value, 0) / top
        parts.append(
            f'<rect x="{PAD + index * step + step * 0.1:.1f}" y="{HEIGHT - PAD - height:.1f}" '
            f'width="{width}" height="{height:.1f}"><title>{escape(label)}: {number(value)}'
            "</title></rect>"
        )
    return Markup("\n".join(parts)), top
