"""Bar charts drawn on the server as SVG: no chart library, nothing from a CDN."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 640, 160, 24


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: int
    label: str
    shown: str  # the value as the page writes it

    @property
    def rect(self) -> Markup:
        """The bar as SVG, its day and value as its title. Written here in one string: a
        year's four charts are 1,460 bars, and a template writing each attribute through
        a filter took most of the page's time."""
        return Markup(
            f'<rect x="{self.x:.1f}" y="{self.y:.1f}" width="{self.width:.1f}" '
            f'height="{self.height:.1f}"><title>{escape(self.label)}: {escape(self.shown)}'
            "</title></rect>"
        )


def bars(
    values: list[int], labels: list[str], number: Callable[[int], str] = str
) -> tuple[list[Bar], int]:
    """Bars scaled to the chart's box, and the top of the scale; `number` writes a value
    (a year's range is 1,460 bars: formatted here once each, with the locale looked up
    once, rather than by a template filter that looks it up on every call)."""
    top = max([*values, 1])
    step = (WIDTH - 2 * PAD) / max(len(values), 1)
    found = []
    for index, (value, label) in enumerate(zip(values, labels, strict=True)):
        height = (HEIGHT - 2 * PAD) * max(value, 0) / top
        found.append(
            Bar(
                x=PAD + index * step + step * 0.1,
                y=HEIGHT - PAD - height,
                width=step * 0.8,
                height=height,
                value=value,
                label=label,
                shown=number(value),
            )
        )
    return found, top
