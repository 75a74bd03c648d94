"""The `premia` command against the test app (the group would otherwise build its own)."""

from __future__ import annotations

import json
import os
from decimal import Decimal

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, select

from core.cli import main
from core.host.db import platform_session
from core.host.migrate import alembic_config, current_heads, script_heads
from core.loyalty.program import get_program
from core.loyalty.staff import Role, StaffUser
from core.web.passwords import verify_password
from tenants.models import Plan, Tenant

OWNER_PASSWORD = "s3cret-owner-pw"


@pytest.fixture
def premia(app):
    """Run `premia ARGS…` with the test app (FlaskCliRunner passes it as ScriptInfo)."""
    runner = app.test_cli_runner()

    def run(*args: str):
        return runner.invoke(main, list(args))

    return run


def _create(premia, slug="cafe-cli", **options: str):
    values = {
        "name": "Café CLI",
        "plan": "free",
        "currency": "COP",
        "country": "CO",
        "timezone": "America/Bogota",
        "owner-email": "duena@cafe-cli.example",
        "owner-password": OWNER_PASSWORD,
        **options,
    }
    args = ["tenant", "create"]
    for key, value in values.items():
        args += [f"--{key}", value]
    return premia(*args, "--", slug)


def _tenants(platform) -> dict[str, Tenant]:
    with platform_session(platform.sessions) as session:
        return {t.slug: t for t in session.scalars(select(Tenant))}


def _staff_count(platform) -> int:
    with platform_session(platform.sessions) as session:
        return session.scalar(select(func.count(StaffUser.id)))


def test_tenant_create_makes_the_tenant_and_its_owner(premia, platform):
    result = _create(premia, "cafe-cli", currency="cop", country="co")
    assert result.exit_code == 0, result.output
    assert "created tenant cafe-cli" in result.output

    tenant = _tenants(platform)["cafe-cli"]
    assert (tenant.name, tenant.plan.code, tenant.currency, tenant.country, tenant.timezone) == (
        "Café CLI",
        "free",
        "COP",
        "CO",
        "America/Bogota",
    )
    assert f"id {tenant.id}" in result.output
    with platform_session(platform.sessions) as session:
        owners = session.scalars(select(StaffUser)).all()
    assert [(o.tenant_id, o.email, o.role, o.name) for o in owners] == [
        (tenant.id, "duena@cafe-cli.example", Role.OWNER, "Café CLI")
    ]
    assert owners[0].password_hash.startswith("$argon2id$")
    assert verify_password(owners[0].password_hash, OWNER_PASSWORD)


@pytest.mark.parametrize(
    ("option", "value", "field"),
    [
        ("currency", "ZZZ", "currency"),
        ("currency", "PESOS", "currency"),
        ("country", "XX", "country"),
        ("timezone", "Mars/Olympus_Mons", "timezone"),
        ("timezone", "../../etc/passwd", "timezone"),
        ("plan", "platinum", "plan"),
        ("owner-email", "not-an-email", "email"),
        ("owner-password", "short", "password"),
    ],
    ids=lambda v: str(v),
)
def test_invalid_input_is_refused_and_creates_nothing(premia, platform, option, value, field):
    result = _create(premia, **{option: value})
    assert result.exit_code != 0
    assert result.output.startswith("Error: ")
    assert f"{field}: " in result.output
    assert "Traceback" not in result.output
    assert _tenants(platform) == {}
    assert _staff_count(platform) == 0


@pytest.mark.parametrize("slug", ["Bad Slug", "-dash", "dash-", "a_b", "ñandú", "x" * 61, ""])
def test_invalid_slug_is_refused(premia, platform, slug):
    result = _create(premia, slug)
    assert result.exit_code != 0
    assert "slug: " in result.output
    assert _tenants(platform) == {}


def test_duplicate_slug_is_refused(premia, platform):
    assert _create(premia, "cafe-cli").exit_code == 0
    again = _create(premia, "cafe-cli", name="Otro", **{"owner-email": "otro@otro.example"})
    assert again.exit_code != 0
    assert "slug: " in again.output
    assert list(_tenants(platform)) == ["cafe-cli"]
    assert _tenants(platform)["cafe-cli"].name == "Café CLI"
    assert _staff_count(platform) == 1


def test_duplicate_domain_is_refused(premia, platform):
    assert _create(premia, "uno", plan="white-label", domain="puntos.uno.example").exit_code == 0
    again = _create(
        premia,
        "dos",
        plan="white-label",
        domain="PUNTOS.uno.example",
        **{"owner-email": "dos@dos.example"},
    )
    assert again.exit_code != 0
    assert "domain: " in again.output
    assert list(_tenants(platform)) == ["uno"]


def test_missing_required_option_is_a_usage_error(premia, platform):
    result = premia(
        "tenant",
        "create",
        "sin-nombre",
        "--owner-email",
        "a@b.example",
        "--owner-password",
        OWNER_PASSWORD,
    )
    assert result.exit_code == 2
    assert "--name" in result.output
    assert _tenants(platform) == {}


def test_tenant_list_lists_every_tenant(premia):
    assert _create(premia, "zeta", name="Zeta").exit_code == 0
    assert (
        _create(
            premia,
            "alfa",
            name="Alfa",
            plan="white-label",
            currency="BRL",
            country="BR",
            timezone="America/Sao_Paulo",
            domain="alfa.example",
            **{"owner-email": "a@alfa.example"},
        ).exit_code
        == 0
    )
    result = premia("tenant", "list")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "alfa\tAlfa\twhite-label\tBRL\tAmerica/Sao_Paulo\talfa.example",
        "zeta\tZeta\tfree\tCOP\tAmerica/Bogota\t",
    ]


def test_tenant_list_when_empty(premia):
    result = premia("tenant", "list")
    assert (result.exit_code, result.output) == (0, "")


def test_plugin_list_shows_notifications_with_its_plans(premia):
    result = premia("plugin", "list")
    assert result.exit_code == 0, result.output
    lines = {line.split("\t")[0]: line.split("\t") for line in result.output.splitlines()}
    assert "notifications" in lines
    _name, title, plans = lines["notifications"]
    assert title.strip()
    assert plans == "plans: free,white-label"


def test_plugin_list_follows_the_plans(premia, make_plan):
    make_plan("solo-core", set())
    make_plan("basic", {"notifications"})
    result = premia("plugin", "list")
    line = next(x for x in result.output.splitlines() if x.startswith("notifications\t"))
    assert line.endswith("plans: basic,free,white-label")


def test_db_upgrade_reports_the_heads(premia, app):
    result = premia("db", "upgrade")
    assert result.exit_code == 0, result.output
    current = sorted(current_heads(app))
    assert result.output.strip() == f"database at {', '.join(current)}"
    # Alembic records a branch that another depends on through its dependant:
    # every branch's head is the current revisions or one of their ancestors.
    script = ScriptDirectory.from_config(alembic_config(app.extensions["premia"].plugins))
    reached = {r.revision for r in script.iterate_revisions(current, "base")}
    assert script_heads(app) <= reached


def _plan_plugins(platform, code: str) -> set[str]:
    with platform_session(platform.sessions) as session:
        plan = session.scalar(select(Plan).where(Plan.code == code))
        return plan.plugin_names if plan else set()


def test_plans_are_data_changed_from_the_cli(premia, platform, make_plan):
    make_plan("basic", set())
    result = premia("plan", "allow", "basic", "notifications")
    assert result.exit_code == 0, result.output
    assert _plan_plugins(platform, "basic") == {"notifications"}
    listing = premia("plan", "list").output
    assert "basic\tbasic\tnotifications" in listing
    assert "white-label" in listing and "punchcards" in listing
    result = premia("plan", "disallow", "basic", "notifications")
    assert result.exit_code == 0 and _plan_plugins(platform, "basic") == set()


def test_plan_changes_refuse_unknown_plans_and_plugins(premia, platform, make_plan):
    make_plan("basic", set())
    unknown_plugin = premia("plan", "allow", "basic", "notifikations")
    assert unknown_plugin.exit_code != 0 and "notifikations" in unknown_plugin.output
    unknown_plan = premia("plan", "allow", "premium", "notifications")
    assert unknown_plan.exit_code != 0
    assert _plan_plugins(platform, "basic") == set()


def test_plan_sync_adds_installed_plugins_to_their_declared_plans(premia, platform):
    premia("plan", "disallow", "free", "notifications")
    assert "notifications" not in _plan_plugins(platform, "free")
    result = premia("plan", "sync")
    assert result.exit_code == 0, result.output
    assert "notifications" in _plan_plugins(platform, "free")
    assert "notifications" in _plan_plugins(platform, "white-label")


def test_settings_set_and_show_the_program(premia, make_tenant, db):
    tenant = make_tenant(slug="cafe-settings")
    done = premia(
        "settings",
        "set",
        "cafe-settings",
        "program",
        "welcome_points=50",
        'points_per_amount={"amount": "1000", "points": 1}',
    )
    assert done.exit_code == 0, done.output
    shown = premia("settings", "show", "cafe-settings", "program")
    assert json.loads(shown.output)["welcome_points"] == 50
    with db(tenant) as session:
        program = get_program(session)
    assert program["points_per_amount"] == {"amount": Decimal("1000"), "points": 1}


def test_settings_set_refuses_bad_values_and_keeps_the_old_ones(premia, make_tenant, db):
    tenant = make_tenant(slug="cafe-bad")
    premia("settings", "set", "cafe-bad", "program", "welcome_points=10")
    refused = premia(
        "settings", "set", "cafe-bad", "program", "welcome_points=-3", "expiry_months=6"
    )
    assert refused.exit_code != 0 and "welcome_points" in refused.output
    with db(tenant) as session:
        program = get_program(session)
    assert (program["welcome_points"], program["expiry_months"]) == (10, None)


def test_settings_of_a_plugin_and_unknown_namespaces(premia, make_tenant):
    make_tenant(slug="cafe-plugin")
    done = premia("settings", "show", "cafe-plugin", "notifications")
    assert done.exit_code == 0 and isinstance(json.loads(done.output), dict)
    assert premia("settings", "show", "cafe-plugin", "nothing").exit_code != 0
    assert premia("settings", "show", "no-such-shop", "program").exit_code != 0


def test_the_worker_configures_the_orm_before_forking_its_jobs(make_app, redis_url, monkeypatch):
    import rq
    from sqlalchemy import Integer
    from sqlalchemy.orm import DeclarativeBase, mapped_column

    import worker.jobs

    monkeypatch.setattr(worker.jobs, "_worker_app", None)
    application = make_app(PREMIA_REDIS_URL=redis_url)

    class Other(DeclarativeBase):
        pass

    class Thing(Other):  # a model no query has configured yet
        __tablename__ = "cli_worker_things"
        id = mapped_column(Integer, primary_key=True)

    assert not Thing.__mapper__.configured
    seen = []
    monkeypatch.setattr(
        rq.Worker, "work", lambda self, **kw: seen.append(Thing.__mapper__.configured)
    )
    result = application.test_cli_runner().invoke(main, ["worker", "--burst"])
    assert result.exit_code == 0, result.output
    assert seen == [True]  # configured in the worker, before rq forks a process per job


def test_a_worker_may_take_only_the_queues_named(make_app, redis_url, monkeypatch):
    import rq

    import worker.jobs

    monkeypatch.setattr(worker.jobs, "_worker_app", None)
    application = make_app(PREMIA_REDIS_URL=redis_url)
    seen = []
    monkeypatch.setattr(rq.Worker, "work", lambda self, **kw: seen.append(self.queue_names()))
    runner = application.test_cli_runner()
    assert runner.invoke(main, ["worker", "--burst", "--queue", "bulk"]).exit_code == 0
    assert runner.invoke(main, ["worker", "--burst"]).exit_code == 0
    refused = runner.invoke(main, ["worker", "--burst", "--queue", "nope"])
    assert refused.exit_code == 2 and "nope" in refused.output
    bulk, every = seen
    assert [name.rsplit(":", 1)[-1] for name in bulk] == ["bulk"]
    assert len(every) == len(worker.jobs.QUEUES)


def test_a_worker_forks_a_process_per_job_only_with_the_bulk_queue(
    make_app, redis_url, monkeypatch
):
    import rq

    import worker.jobs

    monkeypatch.setattr(worker.jobs, "_worker_app", None)
    application = make_app(PREMIA_REDIS_URL=redis_url)
    seen = []
    for cls in (rq.Worker, rq.SimpleWorker):
        monkeypatch.setattr(cls, "work", lambda self, **kw: seen.append(type(self)))
    runner = application.test_cli_runner()
    short = ["--queue", "mail", "--queue", "default", "--queue", "webhooks"]
    for options in (
        [],
        ["--queue", "bulk"],
        short,
        [*short, "--fork"],
        ["--queue", "bulk", "--no-fork"],
    ):
        result = runner.invoke(main, ["worker", "--burst", *options])
        assert result.exit_code == 0, result.output
    assert seen == [rq.Worker, rq.Worker, rq.SimpleWorker, rq.Worker, rq.SimpleWorker]


def test_a_forked_work_horse_drops_the_workers_pooled_connections(make_app, redis_url, monkeypatch):
    """The worker's relay thread uses the database: a work horse rq forks from it must
    not speak on the parent's sockets (the soak's retried import failed so)."""
    import rq

    import worker.jobs

    monkeypatch.setattr(worker.jobs, "_worker_app", None)
    application = make_app(PREMIA_REDIS_URL=redis_url)
    handlers = []
    monkeypatch.setattr(os, "register_at_fork", lambda **kw: handlers.append(kw))
    monkeypatch.setattr(rq.Worker, "work", lambda self, **kw: None)
    with application.app_context():
        result = application.test_cli_runner().invoke(main, ["worker", "--burst"])
    assert result.exit_code == 0, result.output
    engine = application.extensions["premia"].engine
    pool = engine.pool
    (handler,) = handlers
    handler["after_in_child"]()
    assert engine.pool is not pool  # a fresh pool in the child
