"""`premia plugin new`: a working plugin package to start from, outside the repo.

The files live in `plugin/` as templates (`*.tmpl`, so no tool mistakes them for the
platform's code): `$name`, `$package`, `$title` and `$sdk_version` (this host's front door's,
so a new plugin declares the version it is written against) in a file are replaced with
string.Template, and `_name_`, `_package_` in a path. The catalogs are compiled, so the
package installs and runs as written.
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from core.host.plugins import SDK_VERSION

TEMPLATES = Path(__file__).parent / "plugin"
NAME = re.compile(r"[a-z][a-z0-9_]{1,29}")
"""A plugin's name prefixes its tables, blueprints and settings: a short identifier."""


class ScaffoldError(ValueError):
    """The plugin cannot be made (bad name, folder taken); the message says why."""


def new_plugin(name: str, directory: Path) -> Path:
    """Write the package `premia-<name>` into `directory` and return its folder."""
    if not NAME.fullmatch(name):
        raise ScaffoldError(
            f"{name!r} is not a plugin name: lower-case letters, digits and _, "
            "starting with a letter, 2 to 30 characters"
        )
    target = Path(directory) / f"premia-{name.replace('_', '-')}"
    if target.exists():
        raise ScaffoldError(f"{target} already exists")
    values = {
        "name": name,
        "package": f"premia_{name}",
        "title": name.replace("_", " ").capitalize(),
        "sdk_version": SDK_VERSION,
    }
    for source in sorted(TEMPLATES.rglob("*.tmpl")):
        relative = str(source.relative_to(TEMPLATES).with_suffix(""))
        path = target / relative.replace("_package_", values["package"]).replace("_name_", name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            Template(source.read_text(encoding="utf-8")).substitute(values), encoding="utf-8"
        )
        if path.suffix == ".po":
            with path.open("rb") as po, path.with_suffix(".mo").open("wb") as mo:
                write_mo(mo, read_po(po))
    return target
