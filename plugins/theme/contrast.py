"""Whether text stays readable on a brand's colours: WCAG 2's contrast ratio, AA level
(4.5:1 for normal text), the text colour to draw on a colour, and a nearby colour that
passes when the brand's own does not."""

from __future__ import annotations

import re

AA = 4.5
WHITE, DARK = "#ffffff", "#1f2937"
HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


def _channels(color: str) -> tuple[int, int, int]:
    value = color.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def luminance(color: str) -> float:
    """Relative luminance (WCAG 2.x), 0 for black to 1 for white."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in _channels(color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def ratio(foreground: str, background: str) -> float:
    """The contrast ratio of two colours, 1 to 21."""
    lighter, darker = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def text_on(background: str) -> str:
    """White or dark text, whichever reads better on `background`."""
    return WHITE if ratio(WHITE, background) >= ratio(DARK, background) else DARK


def passes(background: str) -> bool:
    """Whether the text drawn on `background` (see `text_on`) meets AA."""
    return ratio(text_on(background), background) >= AA


def suggest(background: str) -> str:
    """The closest colour of the same hue on which white (or dark) text meets AA:
    `background` darkened (or lightened) step by step; itself when it passes."""
    if passes(background):
        return background.lower()
    r, g, b = _channels(background)
    target = text_on(background)
    for step in range(1, 101):
        k = step / 100
        if target == WHITE:  # darken towards black: white text stays on it
            mixed = (c * (1 - k) for c in (r, g, b))
        else:  # lighten towards white: dark text stays on it
            mixed = (c + (255 - c) * k for c in (r, g, b))
        candidate = "#" + "".join(f"{round(c):02x}" for c in mixed)
        if ratio(target, candidate) >= AA:
            return candidate
    return "#000000" if target == WHITE else WHITE
