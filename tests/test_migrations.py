"""The migrations, on a fresh database of their own: they build exactly the models' schema.

On PostgreSQL a scratch database named after the test database (`<test db>_migr`) is
created next to it and dropped afterwards, so suites on their own test databases of one
server never meet there; on SQLite a file in the test's temporary folder is used.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest
from alembic import command, util
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from core.app import create_app
from core.host.db import Base, platform_session
from core.host.keys import comparison_filter
from core.host.migrate import alembic_config, current_heads, script_heads, upgrade
from tenants.models import Plan


def _server_conninfo(url) -> str:
    """A libpq connection string to the maintenance database of `url`'s server."""
    server = url.set(drivername="postgresql", database="postgres")
    return server.render_as_string(hide_password=False)


@pytest.fixture
def fresh_url(tmp_path) -> Iterator[str]:
    url = make_url(os.environ["PREMIA_TEST_DATABASE_URL"])
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    fresh = f"{url.database}_migr"
    with psycopg.connect(_server_conninfo(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{fresh}"')
    try:
        yield url.set(database=fresh).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_server_conninfo(url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')


@pytest.fixture
def fresh_app(fresh_url, tmp_path, monkeypatch):
    monkeypatch.setenv("PREMIA_INSTANCE_PATH", str(tmp_path))
    app = create_app({"TESTING": True, "PREMIA_DATABASE_URL": fresh_url, "PREMIA_REDIS_URL": None})
    with app.app_context():
        yield app
    app.extensions["premia"].engine.dispose()


def _script(app) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(app.extensions["premia"].plugins))


def _differences(app) -> list:
    with app.extensions["premia"].engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={"compare_type": True, "include_object": comparison_filter(conn.dialect.name)},
        )
        return compare_metadata(context, Base.metadata)


def _tables(app) -> set[str]:
    with app.extensions["premia"].engine.connect() as conn:
        return set(inspect(conn).get_table_names())


def _at_every_head(app) -> bool:
    """Every branch's head is applied (Alembic records a branch another depends on
    through its dependant, so the heads are the current revisions or their ancestors)."""
    current = current_heads(app)
    reached = {r.revision for r in _script(app).iterate_revisions(tuple(current), "base")}
    return bool(current) and script_heads(app) <= reached


def _downgrade(app, target: str) -> None:
    config = alembic_config(app.extensions["premia"].plugins)
    with app.extensions["premia"].engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, target)


def _plans(app) -> dict[str, set[str]]:
    with platform_session(app.extensions["premia"].sessions) as session:
        return {p.code: p.plugin_names for p in session.scalars(select(Plan))}


def test_upgrade_from_empty_builds_the_models_schema(fresh_app):
    assert _tables(fresh_app) == set()
    upgrade(fresh_app)
    assert _at_every_head(fresh_app)
    assert _tables(fresh_app) == set(Base.metadata.tables) | {"alembic_version"}
    assert _differences(fresh_app) == []


def test_the_ledgers_entries_and_lots_reach_their_tenant_through_their_member(fresh_app):
    # core_0020: no key of their own to tenants (a lookup and a lock per row written);
    # the member's key, which implies the tenant, cascades a tenant's deletion to them.
    upgrade(fresh_app)
    with fresh_app.extensions["premia"].engine.connect() as conn:
        for table in ("ledger_entries", "ledger_lots"):
            keys = {
                key["referred_table"]: (key["constrained_columns"], key["options"].get("ondelete"))
                for key in inspect(conn).get_foreign_keys(table)
            }
            assert "tenants" not in keys, table
            assert keys["memberships"] == (["tenant_id", "member_id"], "CASCADE"), table
        # the rest of the schema still keys each tenant-owned table to tenants
        keys = inspect(conn).get_foreign_keys("ledger_allocations")
        assert "tenants" in {key["referred_table"] for key in keys}
    _downgrade(fresh_app, "core_0019_open_day")
    with fresh_app.extensions["premia"].engine.connect() as conn:
        for table in ("ledger_entries", "ledger_lots"):
            keys = {
                key["referred_table"]: key["options"].get("ondelete")
                for key in inspect(conn).get_foreign_keys(table)
            }
            assert keys["tenants"] == "CASCADE" and keys["memberships"] is None, table


def test_what_an_earn_writes_is_trimmed_and_put_back(fresh_app):
    # core_0021: purchases reach their tenant through their member; the entries' keys
    # and reverses are unique only where set; never-expiring lots are not "due".
    engine = fresh_app.extensions["premia"].engine
    postgres = engine.dialect.name == "postgresql"

    def shape(conn) -> dict:
        keys = {
            key["referred_table"]: key["options"].get("ondelete")
            for key in inspect(conn).get_foreign_keys("purchases")
        }
        indexes = {
            index["name"]: (index["unique"], index.get("dialect_options", {}))
            for index in inspect(conn).get_indexes("ledger_entries")
            + inspect(conn).get_indexes("ledger_lots")
        }
        uniques = {u["name"] for u in inspect(conn).get_unique_constraints("ledger_entries")}
        return {"keys": keys, "indexes": indexes, "uniques": uniques}

    upgrade(fresh_app)
    with engine.connect() as conn:
        after = shape(conn)
    assert "tenants" not in after["keys"] and after["keys"]["memberships"] == "CASCADE"
    where = "postgresql_where" if postgres else "sqlite_where"
    for name, column in (
        ("uq_ledger_entries_tenant_id_idempotency_key", "idempotency_key"),
        ("uq_ledger_entries_tenant_id_reverses_id", "reverses_id"),
    ):
        unique, options = after["indexes"][name]
        assert unique and f"{column} IS NOT NULL" in str(options[where])
        assert name not in after["uniques"]
    assert "expires_at IS NOT NULL" in str(after["indexes"]["ix_ledger_lots_due"][1][where])

    _downgrade(fresh_app, "core_0020_csv_ledger_keys")
    with engine.connect() as conn:
        before = shape(conn)
    assert before["keys"]["tenants"] == "CASCADE" and before["keys"]["memberships"] is None
    assert {
        "uq_ledger_entries_tenant_id_idempotency_key",
        "uq_ledger_entries_tenant_id_reverses_id",
    } <= before["uniques"]
    assert "expires_at" not in str(before["indexes"]["ix_ledger_lots_due"][1].get(where))


def test_the_outbox_and_the_stored_answers_keep_no_key_to_tenants_and_get_it_back(fresh_app):
    # core_0022 and api_0003: rows a sale writes that held the merchant's row with a
    # KEY SHARE lock (a MultiXact per concurrent sale) keep its id without the key.
    tables = ("outbox", "api_idempotent_responses")

    def referred(conn) -> dict[str, set[str]]:
        return {t: {k["referred_table"] for k in inspect(conn).get_foreign_keys(t)} for t in tables}

    upgrade(fresh_app)
    engine = fresh_app.extensions["premia"].engine
    with engine.connect() as conn:
        assert referred(conn) == {"outbox": set(), "api_idempotent_responses": set()}
    _downgrade(fresh_app, "api@api_0002")
    _downgrade(fresh_app, "core_0021_earn_writes")
    with engine.connect() as conn:
        assert referred(conn) == {"outbox": {"tenants"}, "api_idempotent_responses": {"tenants"}}


def test_upgrade_twice_changes_nothing(fresh_app):
    upgrade(fresh_app)
    before = current_heads(fresh_app)
    upgrade(fresh_app)
    assert current_heads(fresh_app) == before
    assert _differences(fresh_app) == []


def test_seed_plans(fresh_app):
    upgrade(fresh_app)
    plans = _plans(fresh_app)
    assert set(plans) == {"free", "white-label"}
    assert plans["free"] < plans["white-label"]
    # every installed plugin is in the seed plans it declares
    for name, info in fresh_app.extensions["premia"].plugins.infos.items():
        for code in info.plans:
            assert name in plans[code], (name, code)
    assert "notifications" in plans["free"]


def test_a_plan_created_after_the_seed_gets_a_new_id(fresh_app):
    # The seed gives ids explicitly; the sequence must have moved past them.
    upgrade(fresh_app)
    with platform_session(fresh_app.extensions["premia"].sessions) as session:
        plan = Plan(code="gold", name="Gold")
        session.add(plan)
        session.commit()
        assert plan.id == 3


def test_downgrade_to_base_and_upgrade_again(fresh_app):
    upgrade(fresh_app)
    _downgrade(fresh_app, "base")
    assert _tables(fresh_app) <= {"alembic_version"}
    assert current_heads(fresh_app) == set()
    upgrade(fresh_app)
    assert _at_every_head(fresh_app)
    assert _differences(fresh_app) == []
    assert set(_plans(fresh_app)) == {"free", "white-label"}


def test_a_plugin_branch_downgrades_on_its_own(fresh_app):
    upgrade(fresh_app)
    _downgrade(fresh_app, "notifications@base")
    tables = _tables(fresh_app)
    assert "notifications_deliveries" not in tables
    assert {"tenants", "ledger_entries"} <= tables
    upgrade(fresh_app)
    assert _differences(fresh_app) == []


def test_an_external_plugins_branch_applies_and_rolls_back(fresh_app):
    # examples/premia-greeting, installed with pip: its branch comes from its package.
    upgrade(fresh_app)
    assert "greeting_greetings" in _tables(fresh_app)
    _downgrade(fresh_app, "greeting@base")
    tables = _tables(fresh_app)
    assert "greeting_greetings" not in tables
    assert {"tenants", "ledger_entries", "news_items"} <= tables
    upgrade(fresh_app)
    assert "greeting_greetings" in _tables(fresh_app)
    assert _differences(fresh_app) == []


@pytest.mark.postgres
def test_ledger_entries_are_append_only_after_migrating(fresh_app):
    upgrade(fresh_app)
    engine = fresh_app.extensions["premia"].engine
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO customers (email, first_name, last_name, created_at) "
                "VALUES ('a@b.example', '', '', now())"
            )
        )
        conn.execute(
            text(
                "INSERT INTO tenants (slug, name, country, currency, timezone, language, theme, "
                "plan_id, created_at) "
                "VALUES ('t', 'T', 'CO', 'COP', 'UTC', 'es', 'default', 1, now())"
            )
        )
        conn.execute(
            text(
                "INSERT INTO memberships (tenant_id, customer_id, code, balance, search_text, "
                "joined_via, created_at) VALUES (1, 1, 'ABC', 5, '', 'staff', now())"
            )
        )
        conn.execute(
            text(
                "INSERT INTO ledger_entries (tenant_id, member_id, kind, points, balance_after, "
                "actor_kind, created_at) VALUES (1, 1, 'earn', 5, 5, 'system', now())"
            )
        )
    for statement in ("UPDATE ledger_entries SET points = 50", "DELETE FROM ledger_entries"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))


def test_member_names_move_to_each_membership(fresh_app):
    """core_0005: each merchant keeps the names it sees today, on its membership; an
    account whose person never signed in keeps none (merchants typed them all)."""
    upgrade(fresh_app, "core_0004")
    engine = fresh_app.extensions["premia"].engine
    with engine.begin() as conn:
        for slug in ("a", "b"):
            conn.execute(
                text(
                    "INSERT INTO tenants (slug, name, country, currency, timezone, language, "
                    "theme, plan_id, created_at) VALUES (:slug, :slug, 'CO', 'COP', 'UTC', 'es', "
                    "'default', 1, CURRENT_TIMESTAMP)"
                ),
                {"slug": slug},
            )
        conn.execute(
            text(
                "INSERT INTO customers"
                " (id, email, password_hash, first_name, last_name, created_at)"
                " VALUES (1, 'ana@x.example', NULL, 'Ana', 'Núñez', CURRENT_TIMESTAMP),"
                " (2, 'eva@x.example', 'argon2-hash', 'Eva', 'Gil', CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO memberships (tenant_id, customer_id, code, balance, search_text, "
                "joined_via, created_at) VALUES"
                " (1, 1, 'A1', 0, 'a1 ana@x.example ana nunez', 'staff', CURRENT_TIMESTAMP),"
                " (2, 1, 'B1', 0, 'b1 ana@x.example ana nunez', 'api', CURRENT_TIMESTAMP),"
                " (2, 2, 'B2', 0, 'b2 eva@x.example eva gil', 'staff', CURRENT_TIMESTAMP)"
            )
        )

    def names(table: str) -> list[tuple]:
        key = "code" if table == "memberships" else "email"
        columns = f"{key}, first_name, last_name"
        if table == "memberships":
            columns += ", search_text"
        with engine.connect() as conn:
            return [
                tuple(row)
                for row in conn.execute(text(f"SELECT {columns} FROM {table} ORDER BY {key}"))
            ]

    upgrade(fresh_app, "core_0005")
    assert names("memberships") == [
        ("A1", "Ana", "Núñez", "a1 ana@x.example ana nunez"),
        ("B1", "Ana", "Núñez", "b1 ana@x.example ana nunez"),
        ("B2", "Eva", "Gil", "b2 eva@x.example eva gil"),
    ]
    # Never signed in: blanked. Signed in: she may have typed them herself, kept.
    assert names("customers") == [("ana@x.example", "", ""), ("eva@x.example", "Eva", "Gil")]

    _downgrade(fresh_app, "core_0004")
    assert names("customers") == [
        ("ana@x.example", "Ana", "Núñez"),
        ("eva@x.example", "Eva", "Gil"),
    ]
    assert "first_name" not in {c["name"] for c in inspect(engine).get_columns("memberships")}


# --- the script directory (no database) ------------------------------------------


def test_one_head_per_branch_and_plugins_depend_on_core(app):
    script = _script(app)
    plugins = app.extensions["premia"].plugins.infos
    branches = {"core"} | {name for name, info in plugins.items() if info.migrations_path}
    assert "notifications" in branches

    assert len(script.get_heads()) == len(branches)  # one head each, no stray branch
    for branch in branches:
        branch_heads = script.get_revisions(f"{branch}@head")
        assert len(branch_heads) == 1, branch
        assert branch in branch_heads[0].branch_labels | {
            label
            for rev in script.iterate_revisions(branch_heads[0].revision, "base")
            for label in rev.branch_labels
        }

    core_revisions = {r.revision for r in script.iterate_revisions("core@head", "base")}
    for branch in branches - {"core"}:
        revisions = list(script.iterate_revisions(f"{branch}@head", "base"))
        own = [r for r in revisions if r.revision not in core_revisions]
        bases = [r for r in own if r.down_revision is None]
        assert len(bases) == 1, branch
        assert branch in bases[0].branch_labels
        assert set(util.to_tuple(bases[0].dependencies, default=())) & core_revisions, (
            f"{branch}'s first migration must depend on a core revision"
        )
