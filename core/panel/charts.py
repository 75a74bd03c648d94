"""Bar charts drawn on the server as SVG: no chart library, nothing from a CDN."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from markupsafe import Markup

WIDTH, HEIGHT, PAD = 640, 160, 24


def bars(
    values: Sequence[int], labels: Sequence[str], number: Callable[[int], str] = str
) -> tuple[Markup, int]:
    """A chart's bars as one SVG fragment (each bar's day and value as its title), and the
    top of the scale. `labels` are HTML-safe text, and `number` writes a value as such
    (digits and the locale's separators): the caller escapes and formats each once per
    process, not once per bar of every page. Written here in one
    string: a year's four charts are 1,460 bars, and a template looping over bar objects
    (one Markup and two escapes each) was most of a 365-day page's Python time."""
    top = max([*values, 1])
    inner, base = HEIGHT - 2 * PAD, HEIGHT - PAD
    # What depends only on the number of bars (each bar's x and width) is written once
    # per process; per bar remain its height, twice, and its title.
    heads, width = _layout(len(values))
    heights = [inner * max(value, 0) / top for value in values]
    parts = [
        f'{head}{base - height:.1f}" width="{width}" height="{height:.1f}"><title>'
        f"{label}: {number(value)}</title></rect>"
        for head, value, label, height in zip(heads, values, labels, heights, strict=True)
    ]
    return Markup("\n".join(parts)), top


@functools.lru_cache(maxsize=512)
def _layout(count: int) -> tuple[tuple[str, ...], str]:
    """Each bar's opening up to its y, and the bars' width, for a chart of `count` bars."""
    step = (WIDTH - 2 * PAD) / max(count, 1)
    heads = tuple(f'<rect x="{PAD + index * step + step * 0.1:.1f}" y="' for index in range(count))
    return heads, f"{step * 0.8:.1f}"
