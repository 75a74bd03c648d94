"""Themes: per-brand templates, static files and colours, chosen per tenant.

A theme is a folder `themes/<name>/` with `theme.json` (`parent`, `colors`),
`templates/` that override the parent's, and `static/`. Lookup order for a
template: the tenant's theme, its parents, the `default` theme, then the
plugins' template folders (`<plugin>/templates/<plugin>/…`).

Jinja caches templates by name, so the theme is part of the name: a request
for a brand asks for "brand:panel/home.html", and `join_path` carries that
prefix to every template it extends or includes.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import g, has_app_context
from flask.templating import Environment
from jinja2 import BaseLoader, FileSystemLoader, TemplateNotFound

THEMES_ROOT = Path(__file__).resolve().parents[2] / "themes"
DEFAULT = "default"
SEPARATOR = ":"


@lru_cache(maxsize=256)  # bounded: the name may come from a URL
def theme_info(name: str) -> dict[str, Any]:
    if not name.replace("-", "").replace("_", "").isalnum():
        return {}
    path = THEMES_ROOT / name / "theme.json"
    if not path.is_file():
        return {"name": DEFAULT, "parent": None, "colors": {}} if name == DEFAULT else {}
    info = json.loads(path.read_text())
    info.setdefault("name", name)
    return info


def chain(name: str) -> list[str]:
    """The theme, its parents, and `default` last."""
    names: list[str] = []
    while name and name not in names and theme_info(name):
        names.append(name)
        name = theme_info(name).get("parent") or ""
    if DEFAULT not in names:
        names.append(DEFAULT)
    return names


def colors(name: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for theme in reversed(chain(name)):
        merged.update(theme_info(theme).get("colors", {}))
    return merged


def current_theme() -> str:
    tenant = g.get("tenant") if has_app_context() else None
    return getattr(tenant, "theme", None) or DEFAULT


class ThemeLoader(BaseLoader):
    def __init__(self, plugin_folders: list[Path]) -> None:
        self.plugins = FileSystemLoader([str(p) for p in plugin_folders])

    def get_source(self, environment: Any, template: str) -> tuple[str, str | None, Any]:
        theme, _, name = template.rpartition(SEPARATOR)
        for folder in chain(theme or DEFAULT):
            loader = FileSystemLoader(str(THEMES_ROOT / folder / "templates"))
            try:
                return loader.get_source(environment, name)
            except TemplateNotFound:
                continue
        return self.plugins.get_source(environment, name)


class ThemedEnvironment(Environment):
    def get_template(self, name: Any, parent: Any = None, globals: Any = None) -> Any:
        if isinstance(name, str) and SEPARATOR not in name:
            name = f"{current_theme()}{SEPARATOR}{name}"
        return super().get_template(name, parent, globals)

    def join_path(self, template: str, parent: str) -> str:
        if SEPARATOR in template or SEPARATOR not in parent:
            return template
        return parent.split(SEPARATOR, 1)[0] + SEPARATOR + template
