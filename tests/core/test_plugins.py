"""The plugin host: discovery, activation per tenant, hooks after commit, start-up checks."""

from __future__ import annotations

import ast
import logging
import types
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import pluggy
import pytest
from flask import Blueprint
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import core.host.plugins
import plugins.notifications
from core.host.actors import Actor
from core.host.contributions import PeriodicJob
from core.host.db import Base, platform_session, tenant_session
from core.host.errors import InvalidInput
from core.host.plugins import (
    ENTRY_POINT_GROUP,
    SDK_VERSION,
    PluginError,
    PluginHost,
    PluginInfo,
    hookimpl,
)
from core.host.topics import Topic
from core.loyalty import ledger
from core.loyalty.customers import create_member
from core.loyalty.members import Customer
from core.loyalty.program import update_program
from core.loyalty.purchases import PointsLine, record_purchase
from core.loyalty.rewards import create_reward, redeem_reward
from tenants.models import TenantSetting
from tenants.services import set_plan_limit
from tests.core import recorder_plugin

pytestmark = pytest.mark.premia_plugins(recorder_plugin)

STAFF = Actor.staff(1)
SDK_MAJOR, SDK_MINOR = (int(part) for part in SDK_VERSION.split("."))
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def test_plan(make_plan):
    return make_plan("test-plan", {"recorder"})


@pytest.fixture
def shop(test_plan, make_tenant):
    """A tenant whose plan allows the recorder (and nothing else)."""
    return make_tenant(plan="test-plan")


def _switch(db, platform, tenant, name, enabled):
    with db(tenant) as session:
        platform.plugins.switch(session, tenant, name, enabled)
        session.commit()


def _active(db, platform, tenant):
    with db(tenant) as session:
        return platform.plugins.active(session, tenant)


def _member_with_points(session, email, points):
    member = create_member(session, email=email, actor=Actor.system())
    ledger.earn(session, member, points=points, actor=STAFF)
    return member


# --- discovery -----------------------------------------------------------


def test_notifications_is_declared_as_an_entry_point():
    declared = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert declared["notifications"] == "plugins.notifications"


def test_host_loads_plugins_from_the_entry_point_group(monkeypatch):
    host = PluginHost()
    host.load_entry_points()
    assert host.pm.get_plugin("notifications") is plugins.notifications
    info = host.infos["notifications"]
    assert info.package_path == ROOT / "plugins" / "notifications"
    assert info.migrations_path == ROOT / "plugins" / "notifications" / "migrations"
    assert info.templates_path == ROOT / "plugins" / "notifications" / "templates"

    # What the group lists is what is installed: nothing hard-coded besides it.
    fake = EntryPoint(name="recorder", value="tests.core.recorder_plugin", group=ENTRY_POINT_GROUP)
    monkeypatch.setattr(core.host.plugins, "entry_points", lambda group: [fake])
    host = PluginHost()
    host.load_entry_points()
    assert set(host.infos) == {"recorder"}
    assert host.pm.get_plugin("recorder") is recorder_plugin


def test_app_without_entry_points_has_no_plugins(monkeypatch, make_app):
    monkeypatch.setattr(core.host.plugins, "entry_points", lambda group: [])
    application = make_app()
    host = application.extensions["premia"].plugins
    assert host.infos == {}
    assert host.pm.get_plugin("notifications") is None
    assert host.pm.get_plugin("core") is not None  # the core's own hooks stay


def test_premia_plugins_setting_limits_what_is_loaded():
    host = PluginHost()
    host.load_entry_points(names={"something-else"})
    assert host.infos == {}


def test_entry_point_name_must_match_the_plugin_name(monkeypatch):
    fake = EntryPoint(name="other", value="tests.core.recorder_plugin", group=ENTRY_POINT_GROUP)
    monkeypatch.setattr(core.host.plugins, "entry_points", lambda group: [fake])
    with pytest.raises(PluginError, match="declares plugin 'recorder'"):
        PluginHost().load_entry_points()


# --- activation ----------------------------------------------------------


def test_plugin_is_active_only_where_the_plan_allows_it(shop, make_tenant, db, platform):
    free = make_tenant()
    assert "recorder" in platform.plugins.infos
    assert _active(db, platform, shop) == {"recorder"}
    assert "recorder" not in _active(db, platform, free)
    assert "notifications" in _active(db, platform, free)


def test_switching_off_and_on_again(shop, db, platform):
    _switch(db, platform, shop, "recorder", False)
    assert _active(db, platform, shop) == set()
    _switch(db, platform, shop, "recorder", True)
    assert _active(db, platform, shop) == {"recorder"}


def test_a_plugin_outside_the_plan_cannot_be_switched_on(make_tenant, db, platform):
    free = make_tenant()
    with db(free) as session, pytest.raises(InvalidInput):
        platform.plugins.switch(session, free, "recorder", True)
    assert "recorder" not in _active(db, platform, free)


def test_switching_off_is_per_tenant(shop, make_tenant, db, platform):
    second = make_tenant(plan="test-plan")
    _switch(db, platform, shop, "recorder", False)
    assert _active(db, platform, shop) == set()
    assert _active(db, platform, second) == {"recorder"}


# --- announcing hooks ----------------------------------------------------


def test_hooks_fire_after_commit_and_only_then(shop, db, recorder):
    with db(shop) as session:
        member = _member_with_points(session, "ana@mail.example", 30)
        reward = create_reward(session, name="Café", points=10)
        redemption = redeem_reward(session, member, reward, actor=STAFF)
        session.flush()
        assert recorder.calls == []  # flushed, not committed
        session.commit()
    assert recorder.calls == [
        ("member_created", shop.slug, member.id),
        ("entry_recorded", shop.slug, ("earn", 30, member.id)),
        ("entry_recorded", shop.slug, ("redeem", -10, member.id)),
        ("redemption_changed", shop.slug, (redemption.id, "confirmed")),
    ]


def test_no_hooks_for_a_rolled_back_transaction(shop, make_member, db, recorder, platform):
    kept = make_member(shop)
    recorder.calls.clear()
    with db(shop) as session:
        _member_with_points(session, "rolled@mail.example", 30)
        session.rollback()
        assert recorder.calls == []
        # The same session's next transaction announces its own work only.
        ledger.earn(session, kept, points=5, actor=STAFF)
        session.commit()
    assert recorder.calls == [("entry_recorded", shop.slug, ("earn", 5, kept.id))]
    with platform_session(platform.sessions) as session:
        assert (
            session.scalar(select(Customer.id).where(Customer.email == "rolled@mail.example"))
            is None
        )


def test_no_hooks_for_work_in_a_rolled_back_savepoint(shop, make_member, db, recorder):
    """Per-row savepoints (as a bulk import uses) announce only the rows that stayed."""
    kept, dropped = make_member(shop), make_member(shop)
    recorder.calls.clear()
    with db(shop) as session:
        ledger.earn(session, kept, points=5, actor=STAFF)
        with pytest.raises(RuntimeError), session.begin_nested():
            ledger.earn(session, dropped, points=7, actor=STAFF)
            raise RuntimeError("this row is refused")
        with session.begin_nested():
            ledger.earn(session, kept, points=9, actor=STAFF)
        session.commit()
    assert recorder.calls == [
        ("entry_recorded", shop.slug, ("earn", 5, kept.id)),
        ("entry_recorded", shop.slug, ("earn", 9, kept.id)),
    ]


def test_no_hooks_for_a_savepoint_whose_flush_failed(shop, make_member, db, recorder):
    kept, dropped = make_member(shop), make_member(shop)
    recorder.calls.clear()
    with db(shop) as session:
        with pytest.raises(IntegrityError), session.begin_nested():
            ledger.earn(session, dropped, points=7, actor=STAFF)
            session.add_all(
                [TenantSetting(namespace="dup", data={}), TenantSetting(namespace="dup", data={})]
            )
            session.flush()  # the unique key refuses the second row
        ledger.earn(session, kept, points=5, actor=STAFF)
        session.commit()
    assert recorder.calls == [("entry_recorded", shop.slug, ("earn", 5, kept.id))]


def test_no_hooks_when_the_session_closes_without_commit(shop, make_member, db, recorder):
    kept = make_member(shop)
    recorder.calls.clear()
    with db(shop) as session:
        _member_with_points(session, "closed@mail.example", 30)
        session.close()
        # A closed session may be used again; its next commit announces its own work only.
        ledger.earn(session, kept, points=5, actor=STAFF)
        session.commit()
    assert recorder.calls == [("entry_recorded", shop.slug, ("earn", 5, kept.id))]


def test_hooks_reach_only_tenants_with_the_plugin_active(shop, make_tenant, db, recorder):
    free = make_tenant()
    with db(free) as session:
        _member_with_points(session, "bea@mail.example", 30)
        session.commit()
    assert recorder.calls == []
    with db(shop) as session:
        member = _member_with_points(session, "bea@mail.example", 12)
        session.commit()
    assert recorder.calls == [
        ("member_created", shop.slug, member.id),
        ("entry_recorded", shop.slug, ("earn", 12, member.id)),
    ]


def test_no_hooks_once_switched_off(shop, db, platform, recorder):
    _switch(db, platform, shop, "recorder", False)
    with db(shop) as session:
        member = _member_with_points(session, "cid@mail.example", 30)
        session.commit()
    assert recorder.calls == []
    _switch(db, platform, shop, "recorder", True)
    with db(shop) as session:
        ledger.earn(session, member, points=7, actor=STAFF)
        session.commit()
    assert recorder.calls == [("entry_recorded", shop.slug, ("earn", 7, member.id))]


def _broken_plugin():
    def fail(*_args):
        raise RuntimeError("broken plugin")

    @hookimpl
    def member_created(tenant, member):
        fail()

    @hookimpl
    def entry_recorded(tenant, entry, member):
        fail()

    return _plugin("broken", member_created=member_created, entry_recorded=entry_recorded)


@pytest.mark.parametrize("broken_first", [True, False], ids=["broken-first", "broken-last"])
def test_a_failing_hook_is_logged_and_the_others_still_run(
    broken_first, make_app, make_plan, make_tenant, db, recorder, caplog
):
    broken = _broken_plugin()
    extra = [broken, recorder_plugin] if broken_first else [recorder_plugin, broken]
    make_plan("test-plan", {"recorder", "broken"})
    tenant = make_tenant(plan="test-plan")
    application = make_app(PREMIA_EXTRA_PLUGINS=extra)
    caplog.set_level(logging.ERROR, logger="core.host.events")
    with application.app_context():
        sessions = application.extensions["premia"].sessions
        with tenant_session(sessions, tenant.id) as session:
            member = _member_with_points(session, "dan@mail.example", 40)
            session.commit()  # does not raise

    assert recorder.calls == [
        ("member_created", tenant.slug, member.id),
        ("entry_recorded", tenant.slug, ("earn", 40, member.id)),
    ]
    failures = [r for r in caplog.records if r.name == "core.host.events" and r.exc_info]
    assert [r.getMessage() for r in failures] == [
        "plugin broken failed in hook member_created",
        "plugin broken failed in hook entry_recorded",
    ]
    assert all(isinstance(r.exc_info[1], RuntimeError) for r in failures)
    with db(tenant) as session:
        assert ledger.audit_member(session, member.id) == (40, 40, 40)


# --- blueprints ----------------------------------------------------------


def test_plugin_pages_answer_only_where_the_plugin_is_active(
    shop, make_tenant, make_app, db, platform
):
    free = make_tenant()
    # A client of an app of its own: each request gets its own app context.
    client = make_app(PREMIA_EXTRA_PLUGINS=[recorder_plugin]).test_client()
    page = client.get(f"/t/{shop.slug}/recorder/")
    assert page.status_code == 200
    assert page.get_data(as_text=True) == f"recorder page of {shop.slug}"
    assert client.get(f"/t/{free.slug}/recorder/").status_code == 404
    _switch(db, platform, shop, "recorder", False)
    assert client.get(f"/t/{shop.slug}/recorder/").status_code == 404
    assert client.get("/t/no-such-shop/recorder/").status_code == 404


def test_blueprint_owner_is_known(platform):
    assert platform.plugins.blueprint_owner["recorder"] == "recorder"


# --- start-up checks -----------------------------------------------------


def _plugin(name, **hooks):
    """A throwaway plugin: a module with PLUGIN and hook implementations (pluggy keeps
    plugins in sets, so they are hashable, as modules are)."""
    module = types.ModuleType(f"tests.throwaway.{name}")
    module.__dict__.update(PLUGIN=PluginInfo(name=name, title=name), **hooks)
    return module


def _blueprints_plugin(name, blueprint_name):
    @hookimpl
    def blueprints():
        return [Blueprint(blueprint_name, __name__, url_prefix=f"/{blueprint_name}")]

    return _plugin(name, blueprints=blueprints)


def _jobs_plugin(name, job_name):
    @hookimpl
    def periodic_jobs():
        return [PeriodicJob(job_name, lambda: None, every=60)]

    return _plugin(name, periodic_jobs=periodic_jobs)


@pytest.mark.parametrize("blueprint_name", ["gifts", "gifts_admin"])
def test_well_named_blueprints_are_served(make_app, blueprint_name):
    application = make_app(PREMIA_EXTRA_PLUGINS=[_blueprints_plugin("gifts", blueprint_name)])
    assert application.extensions["premia"].plugins.blueprint_owner[blueprint_name] == "gifts"


@pytest.mark.parametrize("blueprint_name", ["presents", "giftsadmin", "t"])
def test_misnamed_blueprint_is_refused_at_start_up(make_app, blueprint_name):
    with pytest.raises(PluginError, match=f"blueprint {blueprint_name!r}"):
        make_app(PREMIA_EXTRA_PLUGINS=[_blueprints_plugin("gifts", blueprint_name)])


def test_well_named_periodic_job_is_scheduled(make_app):
    application = make_app(PREMIA_EXTRA_PLUGINS=[_jobs_plugin("gifts", "gifts.refresh")])
    names = {job.name for job in application.extensions["premia"].jobs.periodic}
    # Installed plugins (birthday, …) schedule their own jobs too.
    assert {"core.expiry", "gifts.refresh"} <= names


@pytest.mark.parametrize("job_name", ["refresh", "giftsrefresh", "core.refresh"])
def test_misnamed_periodic_job_is_refused_at_start_up(make_app, job_name):
    with pytest.raises(PluginError, match=f"job {job_name!r}"):
        make_app(PREMIA_EXTRA_PLUGINS=[_jobs_plugin("gifts", job_name)])


def test_misspelled_hook_is_refused_at_start_up(make_app):
    @hookimpl
    def entry_recordd(tenant, entry, member):
        pass

    with pytest.raises(pluggy.PluginValidationError, match="entry_recordd"):
        make_app(PREMIA_EXTRA_PLUGINS=[_plugin("typo", entry_recordd=entry_recordd)])


def test_hook_with_an_unknown_argument_is_refused(make_app):
    @hookimpl
    def entry_recorded(tenant, entri):
        pass

    with pytest.raises(pluggy.PluginValidationError, match="entri"):
        make_app(PREMIA_EXTRA_PLUGINS=[_plugin("typo", entry_recorded=entry_recorded)])


@pytest.mark.parametrize(
    "plugin",
    [
        types.SimpleNamespace(),  # no PLUGIN
        types.SimpleNamespace(PLUGIN={"name": "dict"}),
        types.SimpleNamespace(PLUGIN=PluginInfo(name="Gifts", title="x")),
        types.SimpleNamespace(PLUGIN=PluginInfo(name="gift-cards", title="x")),
    ],
    ids=["missing", "not-plugininfo", "upper-case", "dash"],
)
def test_plugin_without_a_proper_declaration_is_refused(plugin):
    with pytest.raises(PluginError):
        PluginHost().register(plugin)


@pytest.mark.parametrize("written_for", ["2.0", "0.9", f"{SDK_MAJOR}.{SDK_MINOR + 1}", "1", "x.y"])
def test_start_up_refuses_a_plugin_written_for_another_sdk(make_app, written_for):
    plugin = types.ModuleType("tests.throwaway.oldie")
    plugin.PLUGIN = PluginInfo(name="oldie", title="Oldie", sdk_version=written_for)
    with pytest.raises(PluginError) as refused:
        make_app(PREMIA_EXTRA_PLUGINS=[plugin])
    assert str(refused.value) == (
        f"plugin oldie was written for Premia SDK {written_for}, "
        f"this Premia offers SDK {SDK_VERSION}"
    )


@pytest.mark.parametrize("written_for", [f"{SDK_MAJOR}.0", SDK_VERSION])
def test_a_plugin_written_for_this_sdk_or_an_earlier_minor_is_installed(written_for):
    plugin = types.ModuleType("tests.throwaway.fresh")
    plugin.PLUGIN = PluginInfo(name="fresh", title="Fresh", sdk_version=written_for)
    assert PluginHost().register(plugin).sdk_version == written_for


def test_every_built_in_plugin_declares_the_sdk_it_was_written_for():
    """As a third party's must: a literal version, not the host's own `SDK_VERSION`."""
    declared = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        source = ast.parse(Path(ep.load().__file__).read_text())
        (call,) = [
            node
            for node in ast.walk(source)
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "PluginInfo"
        ]
        keywords = {k.arg: k.value for k in call.keywords}
        assert isinstance(keywords.get("sdk_version"), ast.Constant), ep.name
        declared[ep.name] = keywords["sdk_version"].value
    built_in = {name: v for name, v in declared.items() if name in _built_in_names()}
    assert len(built_in) >= 8 and set(built_in.values()) == {SDK_VERSION}
    # a third party's written for an earlier minor (the example) still runs
    assert all(core.host.plugins.sdk_compatible(v) for v in declared.values())


def _built_in_names() -> set[str]:
    return {
        ep.name for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.value.startswith("plugins.")
    }


def test_a_plugin_cannot_be_installed_twice():
    host = PluginHost()
    host.register(recorder_plugin)
    with pytest.raises(PluginError, match="installed twice"):
        host.register(_plugin("recorder"))


def _host_with_table(monkeypatch, module_name, model_module, table):
    # A declarative base of its own keeps the throwaway model out of the app's metadata.
    scratch = type("ScratchBase", (DeclarativeBase,), {})
    monkeypatch.setattr(core.host.plugins, "Base", scratch)
    model = type(
        "Model",
        (scratch,),
        {
            "__module__": model_module,
            "__tablename__": table,
            "id": mapped_column(primary_key=True),
            "__annotations__": {"id": Mapped[int]},
        },
    )
    module = types.ModuleType(module_name)
    module.PLUGIN = PluginInfo(name="gifts", title="Gifts")
    module.Model = model  # held, as a real plugin holds its models: the registry's refs are weak
    host = PluginHost()
    host.register(module)
    return host


@pytest.mark.parametrize(
    "model_module", ["giftpkg.models", "giftpkg"], ids=["models-submodule", "plugin-module-itself"]
)
def test_misnamed_table_is_refused(monkeypatch, model_module):
    host = _host_with_table(monkeypatch, "giftpkg", model_module, "cards")
    with pytest.raises(PluginError, match="table 'cards' must start with gifts_"):
        host.check()


def test_well_named_table_passes(monkeypatch):
    host = _host_with_table(monkeypatch, "giftpkg", "giftpkg.models", "gifts_cards")
    host.check()


def test_tables_of_another_package_are_not_checked(monkeypatch):
    # A table of another package whose name merely starts like the plugin's is not its own.
    host = _host_with_table(monkeypatch, "giftpkg", "giftpkg_extra.models", "cards")
    host.check()


def _package_plugin(tmp_path, folder):
    (tmp_path / "templates" / folder).mkdir(parents=True)
    module = types.ModuleType("giftpkg")
    module.__file__ = str(tmp_path / "__init__.py")
    module.PLUGIN = PluginInfo(name="gifts", title="Gifts")
    host = PluginHost()
    host.register(module)
    return host


def test_templates_outside_the_plugins_folder_are_refused(tmp_path):
    host = _package_plugin(tmp_path, "mail")
    with pytest.raises(PluginError, match="templates/gifts/"):
        host.check()


def test_templates_in_the_plugins_folder_pass(tmp_path):
    host = _package_plugin(tmp_path, "gifts")
    host.check()
    assert host.infos["gifts"].templates_path == tmp_path / "templates"


def test_scratch_models_stay_out_of_the_application_metadata():
    assert not any(t.startswith(("cards", "gifts_")) for t in Base.metadata.tables)


def test_plugin_settings_come_from_its_schema_with_defaults(make_tenant, db, platform):
    from core.host.errors import InvalidInput

    tenant = make_tenant()
    with db(tenant) as session:
        assert platform.plugins.settings(session, "notifications")["on_points"] is True
        platform.plugins.save_settings(session, "notifications", {"on_points": False})
        with pytest.raises(InvalidInput) as refused:
            platform.plugins.save_settings(session, "notifications", {"on_points": "maybe"})
        assert "on_points" in refused.value.fields
        session.commit()
    with db(tenant) as session:
        saved = platform.plugins.settings(session, "notifications")
        assert (saved["on_points"], saved["on_member_created"]) == (False, True)


def test_startup_lets_a_plugin_add_app_wide_routes(client):
    answer = client.get("/recorder-ping")
    assert (answer.status_code, answer.get_data(as_text=True)) == (200, "pong")


def test_panel_menu_shows_an_active_plugins_entries(client, shop, db):
    from core.loyalty.staff import Role, StaffUser
    from core.testing.factories import PASSWORD
    from core.testing.weblogin import post_login

    with db(shop) as session:
        email = session.scalars(select(StaffUser.email).where(StaffUser.role == Role.OWNER)).one()
    post_login(client, shop.slug, email, PASSWORD)
    page = client.get(f"/t/{shop.slug}/panel/").get_data(as_text=True)
    assert f"Recorder of {shop.slug}" in page and f"/t/{shop.slug}/recorder/" in page
    # dashboard_widgets: the plugin's block, about the chosen dates
    ranged = client.get(f"/t/{shop.slug}/panel/?since=2026-11-01&until=2026-11-05")
    assert f'id="recorder-widget">{shop.slug} 2026-11-01 → 2026-11-05' in ranged.get_data(
        as_text=True
    )


def test_plugins_label_the_entry_kinds_they_write(app):
    from flask_babel import force_locale

    from core.loyalty.ledger import kind_label

    with app.test_request_context(), force_locale("es"):
        assert kind_label("birthday") == "Puntos de cumpleaños"
        assert kind_label("pay_with_points") == "Pago con puntos"
        assert kind_label("tier_bonus", "Oro ×1,2") == "Oro ×1,2"  # an entry's own label wins
    with app.test_request_context(), force_locale("en"):
        assert kind_label("pay_with_points") == "Paid with points"
    assert kind_label("unknown_kind") == "unknown kind"


# --- calling hooks through pluggy ------------------------------------------


def _monitor(host):
    """Every call pluggy makes: (hook, [plugin names it calls, in pluggy's order])."""
    seen = []
    host.pm.add_hookcall_monitoring(
        lambda hook, impls, kwargs: seen.append((hook, [i.plugin_name for i in impls])),
        lambda outcome, hook, impls, kwargs: None,
    )
    return seen


def _points_plugin(name, heard):
    @hookimpl
    def calculate_points(purchase, base_points):
        heard.append((name, base_points))
        return [PointsLine(f"{name}_bonus", 3, name)]

    module = _plugin(name, calculate_points=calculate_points)
    module.PLUGIN = PluginInfo(name=name, title=name, entry_kinds={f"{name}_bonus": name})
    return module


def test_in_transaction_hooks_reach_the_tenants_plugins_through_pluggy(
    make_app, make_plan, make_tenant
):
    heard = []
    inside, outside = _points_plugin("inside", heard), _points_plugin("outside", heard)
    make_plan("inside-only", {"inside"})
    tenant = make_tenant(plan="inside-only")
    application = make_app(PREMIA_EXTRA_PLUGINS=[inside, outside])
    host = application.extensions["premia"].plugins
    seen = _monitor(host)
    with application.app_context():
        sessions = application.extensions["premia"].sessions
        with tenant_session(sessions, tenant.id) as session:
            update_program(session, {"points_per_amount": {"amount": "1000", "points": 1}})
            member = create_member(session, email="eva@mail.example", actor=STAFF)
            _purchase, entries = record_purchase(session, member, "20000", actor=STAFF)
            session.commit()
            assert [(e.kind, e.points) for e in entries] == [("earn", 20), ("inside_bonus", 3)]
    assert heard == [("inside", 20)]  # installed, but not in the tenant's plan: not called
    assert ("calculate_points", ["inside"]) in seen


def _panel_plugin(name, log):
    @hookimpl
    def panel_menu(tenant):
        log.append(name)
        if name == "broken":
            raise RuntimeError("broken plugin")
        return [name]

    return _plugin(name, panel_menu=panel_menu)


def test_robust_hooks_call_each_active_plugin_through_pluggy_on_its_own(caplog):
    called = []
    host = PluginHost()
    for name in ("first", "broken", "last", "outsider"):
        host.register(_panel_plugin(name, called))
    seen = _monitor(host)
    caplog.set_level(logging.ERROR, logger="core.host.events")

    results = host.call({"first", "broken", "last"}, "panel_menu", tenant=None)

    assert results == [["first"], ["last"]]  # in the order installed; the broken one left out
    assert called == ["first", "broken", "last"]  # the outsider is not active: not called
    assert seen == [("panel_menu", ["first"]), ("panel_menu", ["broken"]), ("panel_menu", ["last"])]
    assert [r.getMessage() for r in caplog.records if r.name == "core.host.events"] == [
        "plugin broken failed in hook panel_menu"
    ]


def test_a_plugin_must_be_hashable_for_pluggy():
    with pytest.raises(PluginError, match="hashable"):
        PluginHost().register(types.SimpleNamespace(PLUGIN=PluginInfo(name="ns", title="ns")))


# --- notification topics at start-up --------------------------------------


def test_a_topic_no_installed_plugin_delivers_is_logged_at_start_up(make_app, caplog):
    caplog.set_level(logging.WARNING, logger="core.host.plugins")
    make_app()
    assert [r for r in caplog.records if r.name == "core.host.plugins"] == []
    make_app(PREMIA_PLUGINS={"tiers"})  # tiers sends tier_changed; no e-mail channel
    assert [r.getMessage() for r in caplog.records if r.name == "core.host.plugins"] == [
        "notify topic 'points_expiring' is delivered by no installed plugin",
        "notify topic 'tier_changed' is delivered by no installed plugin",
    ]


def test_a_channel_delivering_an_undeclared_topic_is_refused():
    @hookimpl
    def delivered_topics():
        return ["points_expiring", "birthday"]

    host = PluginHost()
    host.register(_plugin("pigeon", delivered_topics=delivered_topics))
    with pytest.raises(PluginError, match=r"pigeon: delivers undeclared topics \['birthday'\]"):
        host.check()


def test_a_topic_declared_twice_is_refused():
    @hookimpl
    def notification_topics():
        return [Topic("points_expiring", {"points": int})]

    host = PluginHost()
    host.register(_plugin("copycat", notification_topics=notification_topics))
    with pytest.raises(PluginError, match="copycat: topic 'points_expiring' is declared twice"):
        host.check()


# --- plan limits -----------------------------------------------------------


def _limited_host():
    module = types.ModuleType("tests.throwaway.stamps")
    module.PLUGIN = PluginInfo(
        name="stamps",
        title="Stamps",
        limits=(
            core.host.plugins.PlanLimit(
                "stamps.per_month", "Stamps a month", seeds={"test-plan": 100}
            ),
        ),
    )
    host = PluginHost()
    host.register(module)
    return host


def test_a_plan_limit_is_the_plugins_seed_until_an_operator_sets_it(shop, platform):
    host = _limited_host()
    with platform_session(platform.sessions) as session:
        tenant = session.get(type(shop), shop.id)
        assert host.limit(tenant, "stamps.per_month") == 100
        set_plan_limit(session, tenant.plan, "stamps.per_month", 250)
        session.commit()
    with platform_session(platform.sessions) as session:
        tenant = session.get(type(shop), shop.id)
        assert host.limit(tenant, "stamps.per_month") == 250
        set_plan_limit(session, tenant.plan, "stamps.per_month", None)
        session.commit()
        assert host.limit(tenant, "stamps.per_month") is None  # unlimited


def test_a_plan_the_seeds_do_not_name_is_unlimited(make_tenant, platform):
    tenant = make_tenant(plan="free")
    with platform_session(platform.sessions) as session:
        assert (
            _limited_host().limit(session.get(type(tenant), tenant.id), "stamps.per_month") is None
        )


def test_an_undeclared_limit_is_a_programming_error(shop, platform):
    with platform_session(platform.sessions) as session, pytest.raises(KeyError):
        _limited_host().limit(session.get(type(shop), shop.id), "stamps.per_year")


@pytest.mark.parametrize("value", [-1, 2.5, "10", True])
def test_a_limit_is_a_whole_number_or_unlimited(shop, platform, value):
    with platform_session(platform.sessions) as session:
        plan = session.get(type(shop), shop.id).plan
        with pytest.raises(InvalidInput):
            set_plan_limit(session, plan, "stamps.per_month", value)
        assert "stamps.per_month" not in plan.limits


def test_a_limit_outside_the_plugins_namespace_is_refused():
    module = types.ModuleType("tests.throwaway.rogue")
    module.PLUGIN = PluginInfo(
        name="rogue", title="Rogue", limits=(core.host.plugins.PlanLimit("coupons.x", "x"),)
    )
    with pytest.raises(PluginError, match=r"must start with rogue\."):
        PluginHost().register(module)
