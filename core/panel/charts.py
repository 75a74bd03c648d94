"""Bar charts drawn on the server as SVG: no chart library, nothing from a CDN."""

from __future__ import annotations

from dataclasses import dataclass

WIDTH, HEIGHT, PAD = 640, 160, 24


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: int
    label: str


def bars(values: list[int], labels: list[str]) -> tuple[list[Bar], int]:
    """Bars scaled to the chart's box, and the top of the scale."""
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
            )
        )
    return found, top
