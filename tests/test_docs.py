"""Docs as contract: every hook is documented and exercised, and the README's
example plugin works as printed."""

from __future__ import annotations

import inspect
import re
import sys
import types
from pathlib import Path

import pytest
from sqlalchemy import select

from core.host import hookspecs
from core.host.actors import Actor
from core.loyalty import ledger
from core.testing.factories import FreshContextClient

ROOT = Path(__file__).resolve().parent.parent
HOOKS = [
    name
    for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
    if hasattr(fn, "premia_spec")
]


def test_there_are_hooks():
    assert {
        "entry_recorded",
        "member_created",
        "redemption_changed",
        "blueprints",
        "periodic_jobs",
        "notify",
        "points_expired",
    } <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_and_typed(hook):
    function = getattr(hookspecs, hook)
    assert (function.__doc__ or "").strip(), f"{hook} has no docstring"
    assert function.__doc__.split(":")[0] in {
        "At start-up",
        "After commit",
        "In the purchase's transaction",
        "In the return's transaction",
        "In the deletion's transaction",
        "In the grant's transaction",
        "In the joining's transaction",
        "While a panel page renders",
        "While a customer app page renders",
        "In the mail job's transaction",
        "In the demo's transaction",
        "While anything a customer sees is drawn",
        "While the POS API answers",
    }, hook
    assert inspect.signature(function).return_annotation != inspect.Signature.empty


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_exercised_by_a_test(hook):
    tests = "\n".join(
        p.read_text() for p in (ROOT / "tests").rglob("test_*.py") if p.name != "test_docs.py"
    )
    helpers = (ROOT / "tests" / "core" / "recorder_plugin.py").read_text()
    assert re.search(rf"\b{hook}\b", tests + helpers), f"no test mentions hook {hook}"


def _readme_plugin() -> types.ModuleType:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```python\n(# premia_stampbonus/__init__\.py\n.*?)```", readme, re.S)
    assert block, "the README has no example plugin"
    module = types.ModuleType("premia_stampbonus")
    module.__file__ = str(ROOT / "README.md")  # no folder of its own: no templates, no tables
    sys.modules["premia_stampbonus"] = module  # rq-style import paths resolve
    exec(compile(block.group(1), "README.md", "exec"), module.__dict__)
    return module


def test_readme_example_plugin_works(make_app, make_plan, make_tenant, make_member, db):
    plugin = _readme_plugin()
    try:
        app = make_app(PREMIA_EXTRA_PLUGINS=[plugin])
        with app.app_context():
            make_plan("bonus-plan", {"stampbonus"})
            tenant = make_tenant(plan="bonus-plan")
            other = make_tenant()  # free plan: no stampbonus
            member, outsider = make_member(tenant), make_member(other)
            for shop, customer in ((tenant, member), (other, outsider)):
                for n in range(10):
                    with db(shop) as session:
                        ledger.earn(
                            session, customer, points=1, actor=Actor.staff(1), reference=f"F-{n}"
                        )
                        session.commit()
            with db(tenant) as session:
                kinds = [
                    e.kind
                    for e in session.scalars(
                        select(ledger.Entry).where(ledger.Entry.member_id == member.id)
                    )
                ]
                assert kinds.count("stampbonus") == 1
                assert ledger.audit_member(session, member.id) == (60, 60, 60)
            with db(other) as session:
                assert ledger.audit_member(session, outsider.id) == (10, 10, 10)
            app.test_client_class = FreshContextClient
            client = app.test_client()
            assert client.get(f"/t/{tenant.slug}/stampbonus/").json == {"tenant": tenant.slug}
            assert client.get(f"/t/{other.slug}/stampbonus/").status_code == 404
    finally:
        sys.modules.pop("premia_stampbonus", None)


def test_scaling_lists_every_table_as_the_models_distribute_it(app):
    # docs/scaling.md, "Keys a tenant-distributed cluster accepts": every table of the
    # models (core's, the installed plugins'), distributed exactly when it has a NOT NULL
    # tenant_id, and the platform's calls for each, in an order its foreign keys allow.
    from core.host.db import Base
    from core.host.keys import is_distributed

    text = (ROOT / "docs" / "scaling.md").read_text(encoding="utf-8")
    section = text.split("## Keys a tenant-distributed cluster accepts")[1].split("\n## ")[0]
    listed = dict(re.findall(r"^\| `(\w+)` \| [^|]+ \| (\w+) \|$", section, re.M))
    tables = Base.metadata.tables
    assert set(listed) == set(tables)
    for name, table in tables.items():
        assert (listed[name] == "distributed") == is_distributed(table), name
    reference = {name for name, kind in listed.items() if kind == "reference"}
    calls = re.findall(
        r"^SELECT (create_reference_table|create_distributed_table|"
        r"citus_add_local_table_to_metadata)\('(\w+)'(.*)\);$",
        section,
        re.M,
    )
    kinds = {
        "create_reference_table": "reference",
        "create_distributed_table": "distributed",
        "citus_add_local_table_to_metadata": "local",
    }
    assert sorted(name for _, name, _ in calls) == sorted(tables)  # each once
    made: set[str] = set()
    for call, name, rest in calls:
        assert kinds[call] == listed[name], name
        if call == "create_distributed_table":
            assert rest.startswith(", 'tenant_id'"), name
            assert name == "memberships" or rest.endswith("colocate_with => 'memberships'")
        for key in tables[name].foreign_keys:
            target = key.column.table.name
            assert target in made | {name}, (name, target)
            # a distributed table points only at its own kind or at reference tables
            if listed[name] == "distributed":
                assert listed[target] in ("distributed", "reference"), (name, target)
            if listed[name] == "reference":
                assert target in reference, (name, target)
        made.add(name)
