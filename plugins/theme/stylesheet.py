"""The small stylesheet compiled for a brand when it saves its look: its colours as the
theme's CSS variables, the text colours readable on them, and its font's faces. Served
at a URL carrying the content's hash, so it is cached for a year and a change is a new
URL (phones get the new look at once, and nothing else is downloaded again)."""

from __future__ import annotations

import hashlib

from plugins.theme import contrast, fonts

YEAR = 31536000


def compile_css(primary: str, accent: str, font: str | None) -> str:
    """The CSS. Font files are linked relative to it: served beside it under fonts/."""
    on_primary, on_accent = contrast.text_on(primary), contrast.text_on(accent)
    rules = [
        ":root{"
        f"--primary:{primary};--accent:{accent};"
        f"--on-primary:{on_primary};--on-accent:{on_accent}"
        "}",
        # The default theme writes white on the primary colour: the readable one instead
        # (the panel's top bar too: a light brand colour left its name unreadable there).
        ".app-bar,.app-menu a[aria-current=page],button:not(.link):not(.secondary),"
        "a.button:not(.secondary),.topbar,.topbar a,.topbar button.link"
        "{color:var(--on-primary)}",
    ]
    chosen = fonts.FONTS.get(font or "")
    if chosen is not None:
        for weight in fonts.WEIGHTS:
            rules.append(
                "@font-face{"
                f'font-family:"{chosen.family}";font-style:normal;font-display:swap;'
                f"font-weight:{weight};"
                f'src:url("fonts/{chosen.key}/{fonts.file_name(chosen.key, weight)}")'
                ' format("woff2")'
                "}"
            )
        rules.append(
            f'body,body.app{{font-family:"{chosen.family}",system-ui,-apple-system,'
            '"Segoe UI",Roboto,sans-serif}'
        )
    return "\n".join(rules) + "\n"


def content_hash(css: str) -> str:
    return hashlib.sha256(css.encode()).hexdigest()[:16]
