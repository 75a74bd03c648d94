"""The `member_actions` hook: active plugins' links about a member on the cashier's
page (Fidelización), shown to the roles they name, never from an inactive plugin."""

from __future__ import annotations

import html
import types

import pytest
from flask import Blueprint

from core.host.plugins import PluginInfo, hookimpl
from core.loyalty.staff import Role
from core.panel.access import MANAGERS
from core.sdk import MenuItem
from core.testing.weblogin import login


def _probe() -> types.ModuleType:
    module = types.ModuleType("actions_probe")
    module.PLUGIN = PluginInfo(name="actionprobe", title="Probe", description="Tests.")

    @hookimpl
    def blueprints():
        bp = Blueprint("actionprobe", __name__, url_prefix="/panel/actionprobe")
        bp.get("/<code>/stamps")(stamps)
        bp.get("/<code>/settle")(settle)
        return [bp]

    def stamps(code):
        return f"stamps of {code}"

    def settle(code):
        return f"settle {code}"

    @hookimpl
    def member_actions(member):
        if member.first_name == "Broken":
            raise RuntimeError("a plugin bug")
        return [
            MenuItem("t.actionprobe.stamps", "Sellos de café", values={"code": member.code}),
            MenuItem(
                "t.actionprobe.settle",
                "Liquidar (gerencia)",
                roles=MANAGERS,
                order=5,
                values={"code": member.code},
            ),
        ]

    module.blueprints = blueprints
    module.member_actions = member_actions
    return module


PROBE = _probe()
pytestmark = pytest.mark.premia_plugins(PROBE)


@pytest.fixture
def shop(make_tenant, make_plan):
    make_plan("probe", {"actionprobe"})
    return make_tenant(slug="cafe", plan="probe")


def _links(client, tenant, member):
    answer = client.get(f"/t/{tenant.slug}/panel/loyalty/{member.code}")
    assert answer.status_code == 200
    text = html.unescape(answer.get_data(as_text=True))
    if 'class="loyalty-actions"' not in text:
        return []
    nav = text[text.index('class="loyalty-actions"') :]
    nav = nav[: nav.index("</nav>")]
    return [part.split("</a>")[0].split('">')[-1] for part in nav.split("<a ")[1:]]


def test_member_actions_links_show_on_the_cashiers_page_in_order(client, db, shop, make_member):
    ana = make_member(shop, first_name="Ana")
    login(client, db, shop)
    assert _links(client, shop, ana) == ["Liquidar (gerencia)", "Sellos de café"]
    text = client.get(f"/t/cafe/panel/loyalty/{ana.code}").get_data(as_text=True)
    assert f'href="/t/cafe/panel/actionprobe/{ana.code}/stamps"' in text
    assert f'href="/t/cafe/panel/actionprobe/{ana.code}/settle"' in text


def test_an_employee_sees_only_the_links_for_every_role(client, db, shop, make_member):
    ana = make_member(shop, first_name="Ana")
    login(client, db, shop, Role.EMPLOYEE)
    assert _links(client, shop, ana) == ["Sellos de café"]


def test_a_failing_plugin_leaves_the_page_working_without_its_links(client, db, shop, make_member):
    broken = make_member(shop, first_name="Broken")
    login(client, db, shop)
    assert _links(client, shop, broken) == []


def test_a_tenant_without_the_plugin_sees_no_links(client, db, make_tenant, make_member):
    shop = make_tenant(slug="otro")  # the free plan: no probe
    ana = make_member(shop, first_name="Ana")
    login(client, db, shop)
    assert _links(client, shop, ana) == []
