"""Plans as data in the console and the CLI: which plugins each plan allows, each plan's
limits (a plugin's seed until an operator sets it), every change audited."""

from __future__ import annotations

import pytest
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from core.cli import main
from core.host.db import platform_session
from core.host.plugins import PlanLimit, PluginInfo
from core.operator.models import AuditEntry
from tenants.models import Plan
from tests.core.operator.conftest import text


class CappedPlugin:
    """A plugin declaring one plan limit, as coupons or push do."""

    PLUGIN = PluginInfo(
        name="capped",
        title="Capped",
        plans=("free",),
        limits=(PlanLimit("capped.sends_per_month", _l("Sends"), seeds={"free": 50}),),
    )


capped = CappedPlugin()
pytestmark = pytest.mark.premia_plugins(capped)


@pytest.fixture(autouse=True)
def _restore_plans(platform):
    """Plans outlive a test (the seeded rows are kept): put back what these tests change."""
    with platform_session(platform.sessions) as session:
        saved = {
            p.code: (dict(p.limits or {}), set(p.plugin_names))
            for p in session.scalars(select(Plan))
        }
    yield
    from tenants.services import set_plan_plugins

    with platform_session(platform.sessions) as session:
        for plan in session.scalars(select(Plan)):
            if plan.code in saved:
                plan.limits, plugins = saved[plan.code]
                set_plan_plugins(session, plan, plugins)
        session.commit()


def _plan(platform, code: str) -> Plan:
    with platform_session(platform.sessions) as session:
        return session.scalar(select(Plan).where(Plan.code == code))


def _audit(platform) -> list[tuple]:
    with platform_session(platform.sessions) as session:
        return [
            (e.action, e.target, e.details)
            for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
            if e.action.startswith("plan_")
        ]


def test_the_plans_page_shows_plugins_and_limits_with_seeds(console):
    page = text(console.get("/operator/plans"))
    assert 'name="limit:capped.sends_per_month" value="50"' in page
    assert "el valor del complemento" in page


def test_a_limit_set_in_the_console_wins_over_the_seed_and_is_audited(console, platform, app):
    answer = console.post(
        "/operator/plans/free/limits",
        {"limit:capped.sends_per_month": "10"},
        page="/operator/plans",
    )
    assert answer.status_code == 302
    assert _plan(platform, "free").limits == {"capped.sends_per_month": 10}
    console.post("/operator/plans/free/limits", {"limit:capped.sends_per_month": ""})
    assert _plan(platform, "free").limits == {"capped.sends_per_month": None}  # unlimited
    assert _audit(platform) == [
        ("plan_limit", "free", {"limit": "capped.sends_per_month", "before": "seed", "after": 10}),
        ("plan_limit", "free", {"limit": "capped.sends_per_month", "before": 10, "after": None}),
    ]


def test_an_invalid_limit_is_refused_and_nothing_is_written(console, platform):
    answer = console.post("/operator/plans/free/limits", {"limit:capped.sends_per_month": "-3"})
    page = text(console.client.get(answer.headers["Location"]))
    assert "Un límite es un número entero desde 0, o ilimitado." in page
    assert _plan(platform, "free").limits == {}
    assert _audit(platform) == []


def test_a_plans_plugins_are_edited_and_audited(console, platform):
    before = _plan(platform, "free").plugin_names
    assert "notifications" in before
    kept = sorted(before - {"notifications"})
    answer = console.post("/operator/plans/free/plugins", {"plugins": [*kept, "capped"]})
    assert answer.status_code == 302
    assert "Plan free guardado." in text(console.client.get(answer.headers["Location"]))
    assert _plan(platform, "free").plugin_names == set(kept) | {"capped"}
    ((action, target, details),) = _audit(platform)
    assert (action, target) == ("plan_plugins", "free")
    assert set(details["before"]) - set(details["after"]) == {"notifications"}
    assert set(details["after"]) - set(details["before"]) == {"capped"}
    unknown = console.post("/operator/plans/free/plugins", {"plugins": ["nonexistent"]})
    assert "Complemento desconocido." in text(console.client.get(unknown.headers["Location"]))
    assert console.post("/operator/plans/gold/plugins", {"plugins": []}).status_code == 404


@pytest.fixture
def premia(app):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(main, list(args))


def test_cli_plan_limit(premia, platform):
    result = premia("plan", "limit", "free", "capped.sends_per_month", "25")
    assert result.exit_code == 0, result.output
    assert _plan(platform, "free").limits == {"capped.sends_per_month": 25}
    result = premia("plan", "limit", "free", "capped.sends_per_month", "unlimited")
    assert result.exit_code == 0 and "unlimited" in result.output
    assert _plan(platform, "free").limits == {"capped.sends_per_month": None}
    for args, message in (
        (("free", "nope.limit", "3"), "no installed plugin declares"),
        (("free", "capped.sends_per_month", "lots"), "limit:"),
        (("gold", "capped.sends_per_month", "1"), "plan"),
    ):
        result = premia("plan", "limit", *args)
        assert result.exit_code != 0 and message in result.output, result.output
    assert _plan(platform, "free").limits == {"capped.sends_per_month": None}


def test_cli_operator_create(premia, platform):
    result = premia("operator", "create", "root@premia.example", "--password", "long-enough-pw")
    assert result.exit_code == 0, result.output
    result = premia("operator", "create", "root@premia.example", "--password", "long-enough-pw")
    assert result.exit_code != 0
