"""Factories as fixtures: the app, tenants, members, and sessions scoped to a tenant."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from core.app import create_app
from core.host.actors import Actor
from core.host.db import Base, make_engine, platform_session, tenant_session
from core.host.migrate import upgrade
from tenants import services as tenant_services
from tenants.models import Plan, Tenant

__all__ = [
    "app",
    "client",
    "database_url",
    "db",
    "make_app",
    "make_member",
    "make_plan",
    "make_tenant",
    "platform",
]

KEEP = {"plans", "plan_plugins", "alembic_version"}  # seeded by the migration
PASSWORD = "correct-horse-9"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "premia_plugins(*modules): plugin modules the `app` fixture installs too"
    )


@pytest.fixture(scope="session", autouse=True)
def _quick_argon2():
    """argon2id with the smallest cost: the same code path, without 0.3 s per hash."""
    from argon2 import PasswordHasher

    from core.web import passwords

    mp = pytest.MonkeyPatch()
    mp.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def database_url() -> str:
    """The test database, emptied and migrated once per run (the migrations are tested too)."""
    url = os.environ["PREMIA_TEST_DATABASE_URL"]
    engine = make_engine(url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        else:
            # Children first: SQLite checks a dropped table's foreign keys.
            tables = [t for t, _ in inspect(conn).get_sorted_table_and_fkc_names() if t]
            for table in reversed(tables):
                conn.execute(text(f'DROP TABLE IF EXISTS "{table}"'))
    engine.dispose()
    migrated = create_app({"TESTING": True, "PREMIA_DATABASE_URL": url})
    with migrated.app_context():
        upgrade(migrated)
    migrated.extensions["premia"].engine.dispose()
    return url


def _config(database_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "TESTING": True,
        "PREMIA_DATABASE_URL": database_url,
        "PREMIA_REDIS_URL": None,
        "PREMIA_LOGIN_LIMIT": "1000 per minute",
        "PREMIA_LOGIN_LIMIT_PER_ADDRESS": "1000 per minute",
        "SERVER_NAME": "localhost",
        **extra,
    }


def _empty(app) -> None:
    engine = app.extensions["premia"].engine
    tables = [t.name for t in Base.metadata.sorted_tables if t.name not in KEEP]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # DELETE beats TRUNCATE on tiny tables; replica mode skips the ledger's
            # append-only trigger (the test role is a superuser, as in CI).
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        for table in reversed(tables):
            conn.execute(text(f'DELETE FROM "{table}"'))
        conn.execute(text("DELETE FROM plans WHERE code NOT IN ('free', 'white-label')"))


@pytest.fixture
def make_app(database_url: str, smtp_server) -> Iterator[Callable[..., Any]]:
    """Build an app with extra configuration; every app made is emptied afterwards."""
    made = []

    def build(**extra: Any):
        extra.setdefault("PREMIA_SMTP_HOST", "127.0.0.1")
        extra.setdefault("PREMIA_SMTP_PORT", smtp_server.port)
        application = create_app(_config(database_url, **extra))
        made.append(application)
        return application

    yield build
    if made:
        _empty(made[0])
    for application in made:
        platform = application.extensions["premia"]
        platform.engine.dispose()
        if platform.replica is not None:  # PREMIA_DATABASE_REPLICA_URL's pool too
            platform.replica.engine.dispose()


@pytest.fixture
def app(make_app, request):
    """The app with every installed plugin, and the test's own plugins where it asks.

    A test module (or test) adds plugin modules next to the installed ones with
    `pytestmark = pytest.mark.premia_plugins(my_plugin)`.
    """
    extra = [
        plugin for marker in request.node.iter_markers("premia_plugins") for plugin in marker.args
    ]
    application = make_app(PREMIA_EXTRA_PLUGINS=extra) if extra else make_app()
    with application.app_context():
        yield application


class FreshContextClient(FlaskClient):
    """Each request in an app context of its own, as in production.

    The `app` fixture keeps an app context pushed for the services a test calls;
    Flask would reuse it for test requests, carrying `g` (the tenant, the
    request's database session) from one request to the next.
    """

    def open(self, *args: Any, **kwargs: Any):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def client(app):
    app.test_client_class = FreshContextClient
    return app.test_client()


@pytest.fixture
def platform(app):
    return app.extensions["premia"]


@pytest.fixture
def make_plan(platform) -> Callable[..., Plan]:
    def build(code: str, plugins: set[str]) -> Plan:
        with platform_session(platform.sessions) as session:
            plan = Plan(code=code, name=code)
            session.add(plan)
            session.flush()
            tenant_services.set_plan_plugins(session, plan, plugins)
            session.commit()
            return plan

    return build


@pytest.fixture
def make_tenant(platform) -> Callable[..., Tenant]:
    counter = iter(range(1, 10_000))

    def build(slug: str | None = None, **fields: Any) -> Tenant:
        n = next(counter)
        values = {
            "slug": slug or f"shop-{n}",
            "name": f"Shop {n}",
            "plan": "free",
            "currency": "COP",
            "country": "CO",
            "timezone": "America/Bogota",
            "owner_email": f"owner{n}@shop{n}.example",
            "owner_password": PASSWORD,
            **fields,
        }
        with platform_session(platform.sessions) as session:
            tenant = tenant_services.create_tenant(session, **values)
            session.commit()
            return tenant

    return build


@pytest.fixture
def db(platform) -> Callable[[Tenant | int], Any]:
    """`with db(tenant) as session:` a session scoped to that tenant."""

    @contextmanager
    def open_session(tenant: Tenant | int) -> Iterator[Session]:
        tenant_id = tenant if isinstance(tenant, int) else tenant.id
        with tenant_session(platform.sessions, tenant_id) as session:
            yield session

    return open_session


@pytest.fixture
def make_member(db) -> Callable[..., Any]:
    """Create (and commit) a member of `tenant`; returns it detached but readable."""
    counter = iter(range(1, 100_000))

    def build(tenant: Tenant, email: str | None = None, **fields: Any):
        from core.loyalty.customers import create_member

        n = next(counter)
        fields.setdefault("first_name", f"Customer{n}")
        fields.setdefault("last_name", "Test")
        with db(tenant) as session:
            member = create_member(
                session, email=email or f"c{n}@mail.example", actor=Actor.system(), **fields
            )
            session.commit()
            return member

    return build
