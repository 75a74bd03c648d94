"""docs/plugins.md, the plugin authors' guide, keeps up with the platform: every hook
and every `PluginInfo` field is explained there, and its examples import only the
front door."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import pytest

from core import sdk
from core.host import hookspecs
from core.panel import schemaform

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"
HOOKS = [
    name
    for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
    if hasattr(fn, "premia_spec")
]
FIELDS = [f.name for f in dataclasses.fields(sdk.PluginInfo)]


def _text() -> str:
    return GUIDE.read_text(encoding="utf-8")


def test_the_guide_has_hooks_and_fields_to_check():
    assert len(HOOKS) >= 18 and {"name", "sdk_version", "settings_schema"} <= set(FIELDS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_an_example_in_the_guide(hook):
    # Explained by name and shown implemented: `def <hook>(` under `@hookimpl`.
    assert f"`{hook}`" in _text(), f"docs/plugins.md does not explain hook {hook}"
    assert re.search(rf"@hookimpl\ndef {hook}\(", _text()), f"no example of hook {hook}"


@pytest.mark.parametrize("name", FIELDS)
def test_every_plugininfo_field_is_explained(name):
    assert re.search(rf"^\| `{name}` \|", _text(), re.MULTILINE), (
        f"docs/plugins.md's PluginInfo table lacks {name}"
    )


def test_the_guides_examples_import_premia_only_through_the_front_door():
    modules = re.findall(
        r"^(?:from|import) ((?:core|tenants|worker|plugins)[\w.]*)", _text(), re.MULTILINE
    )
    assert set(modules) == {"core.sdk"}, modules


def test_the_metadata_keys_configuracion_reads_are_explained():
    source = inspect.getsource(schemaform)
    keys = set(re.findall(r"metadata or \{\}\)\.get\(\"(\w+)\"\)", source)) | set(
        re.findall(r"meta\.get\(\"(\w+)\"\)", source)
    )
    assert {"label", "key_from"} <= keys
    for key in keys:
        assert re.search(rf"^\| `{key}` \|", _text(), re.MULTILINE), key
