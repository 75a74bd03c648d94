"""The short list of fonts a brand may choose, served by the app from the npm packages
pinned in package.json (@fontsource, installed by `npm ci`), never from a CDN: the Latin
subset (Spanish and Portuguese included) in two weights, as WOFF2."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask_babel import lazy_gettext as _l

NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules" / "@fontsource"
WEIGHTS = (400, 700)


@dataclass(frozen=True)
class Font:
    key: str  # the @fontsource package and the files' prefix
    family: str  # the CSS font-family
    label: object  # shown in the panel (lazy translated)


FONTS: dict[str, Font] = {
    font.key: font
    for font in (
        Font("inter", "Inter", _l("Inter (modern, neutral)")),
        Font("nunito", "Nunito", _l("Nunito (rounded, friendly)")),
        Font("lora", "Lora", _l("Lora (serif, warm)")),
        Font("playfair-display", "Playfair Display", _l("Playfair Display (elegant)")),
    )
}


def file_name(key: str, weight: int) -> str:
    return f"{key}-latin-{weight}-normal.woff2"


def font_file(key: str, name: str) -> Path | None:
    """The WOFF2 file `name` of font `key`, if it is one we serve."""
    if key not in FONTS or name not in {file_name(key, w) for w in WEIGHTS}:
        return None
    path = NODE_MODULES / key / "files" / name
    return path if path.is_file() else None
