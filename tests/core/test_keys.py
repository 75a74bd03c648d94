"""Keys a tenant-distributed cluster accepts (core/host/keys.py, core_0016_keys): on
PostgreSQL every tenant-owned table's primary key holds tenant_id, and so does every
unique key and every foreign key between tenant-owned tables."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator

import psycopg
import pytest
from alembic import command
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, Table, UniqueConstraint, inspect, text
from sqlalchemy.engine import make_url

from core import demo
from core.app import create_app
from core.host.keys import key_problems, redundant_tenant_indexes
from core.host.migrate import alembic_config, upgrade
from core.host.outbox import OutboxRow
from core.scaffold import new_plugin

pytestmark = pytest.mark.postgres

# This module's own database, named after the test database (`<test db>_keys`), as
# test_migrations names its own: suites on their own test databases of one server never
# meet there (a fixed name let one suite drop it under another).
SCRATCH = "{}_keys"


def _primary_key(conn, table: str) -> list[str]:
    return inspect(conn).get_pk_constraint(table)["constrained_columns"]


def _catalogue(conn) -> dict[str, set[tuple[str, str]]]:
    """Each table's keys, unique constraints, foreign keys and indexes, as PostgreSQL
    defines them."""
    rows = conn.execute(
        text(
            "SELECT c.relname, k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint k"
            " JOIN pg_class c ON c.oid = k.conrelid"
            " WHERE c.relnamespace = current_schema()::regnamespace"
            " UNION ALL SELECT tablename, indexname, indexdef FROM pg_indexes"
            " WHERE schemaname = current_schema()"
        )
    )
    found: dict[str, set[tuple[str, str]]] = {}
    for table, name, definition in rows:
        found.setdefault(table, set()).add((name, definition))
    return found


def test_every_table_after_the_migrations_has_keys_a_cluster_accepts(app):
    engine = app.extensions["premia"].engine
    with engine.connect() as conn:
        assert key_problems(conn) == []
        for table in ("memberships", "ledger_lots", "news_items", "greeting_greetings"):
            # core's, a built-in plugin's, and examples/premia-greeting's own migration
            assert _primary_key(conn, table) == ["tenant_id", "id"], table
        assert _primary_key(conn, "tenants") == ["id"]
        assert _primary_key(conn, "customers") == ["id"]
        indexes = {i["name"]: i for i in inspect(conn).get_indexes("memberships")}
        assert indexes["ix_memberships_id"]["column_names"] == ["id"]
        assert not indexes["ix_memberships_id"]["unique"]
        # the (tenant_id, id) key is the primary key now, not a second unique index
        assert not [
            u
            for u in inspect(conn).get_unique_constraints("memberships")
            if set(u["column_names"]) == {"tenant_id", "id"}
        ]
        # nor a plain index on (tenant_id): the primary key's leading column serves it
        assert "ix_memberships_tenant_id" not in indexes
        assert redundant_tenant_indexes(conn) == []


def test_keys_a_cluster_would_refuse_are_reported(app):
    engine = app.extensions["premia"].engine
    with engine.connect() as conn, conn.begin():
        for statement in (
            "CREATE TABLE keys_parent (id integer PRIMARY KEY, tenant_id integer NOT NULL,"
            " code text, CONSTRAINT keys_parent_code UNIQUE (code))",
            "CREATE TABLE keys_child (id integer, tenant_id integer NOT NULL, parent_id integer,"
            " CONSTRAINT keys_child_pk PRIMARY KEY (tenant_id, id),"
            " CONSTRAINT keys_child_parent FOREIGN KEY (parent_id) REFERENCES keys_parent (id))",
            "CREATE UNIQUE INDEX keys_child_one ON keys_child (parent_id)",
            "CREATE TABLE keys_platform (id integer PRIMARY KEY, child_tenant integer,"
            " child_id integer, CONSTRAINT keys_platform_child FOREIGN KEY (child_tenant,"
            " child_id) REFERENCES keys_child (tenant_id, id))",
            "CREATE TABLE keys_nokey (tenant_id integer NOT NULL, n integer)",
        ):
            conn.execute(text(statement))
        assert key_problems(conn) == [
            "keys_child: unique index keys_child_one (parent_id)",
            "keys_child: foreign key keys_child_parent (parent_id) to keys_parent (id) "
            "without tenant_id",
            "keys_parent: unique key keys_parent_code (code)",
            "keys_parent: primary key keys_parent_pkey (id)",
            "keys_platform: foreign key keys_platform_child to keys_child, a tenant-owned "
            "table, from a table without a NOT NULL tenant_id",
            "keys_nokey: no primary key",
        ]
        conn.rollback()


def test_a_table_made_by_a_plugins_migration_gets_the_tenant_in_its_key(app, tmp_path):
    # The migration `premia plugin new` writes declares PRIMARY KEY (id), as any
    # plugin author would; the DDL hook makes it (tenant_id, id) on PostgreSQL.
    package = new_plugin("stamps", tmp_path)
    path = package / "premia_stamps" / "migrations" / "stamps_0001_bonuses.py"
    spec = importlib.util.spec_from_file_location("stamps_0001_bonuses", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    engine = app.extensions["premia"].engine
    with engine.connect() as conn, conn.begin():
        with Operations.context(MigrationContext.configure(conn)):
            migration.upgrade()
            # and a tenant_key() written into a plugin's create_table is the primary key
            Operations(MigrationContext.configure(conn)).create_table(
                "stamps_cards",
                Column("id", Integer, primary_key=True),
                Column("tenant_id", Integer, nullable=False),
                UniqueConstraint("tenant_id", "id", name="uq_stamps_cards_tenant_id_id"),
            )
        assert _primary_key(conn, "stamps_bonuses") == ["tenant_id", "id"]
        assert _primary_key(conn, "stamps_cards") == ["tenant_id", "id"]
        assert inspect(conn).get_unique_constraints("stamps_cards") == []
        assert "ix_stamps_bonuses_id" in {
            i["name"] for i in inspect(conn).get_indexes("stamps_bonuses")
        }
        assert key_problems(conn) == []
        conn.execute(text("INSERT INTO stamps_cards (tenant_id) VALUES (1), (1), (2)"))
        assert conn.execute(text("SELECT id FROM stamps_cards ORDER BY id")).scalars().all() == [
            1,
            2,
            3,
        ]  # still numbered by its sequence
        conn.rollback()


def test_create_all_gives_the_same_keys(app):
    # metadata.create_all (tests, tools) goes through the same hooks as the migrations
    engine = app.extensions["premia"].engine
    table = Table(
        "keys_made",
        MetaData(),
        Column("id", Integer, primary_key=True),
        # as `TenantOwned` declares it: left out on PostgreSQL, the key begins with it
        Column("tenant_id", Integer, nullable=False, index=True),
        UniqueConstraint("tenant_id", "id"),
    )
    with engine.connect() as conn, conn.begin():
        table.create(conn)
        assert _primary_key(conn, "keys_made") == ["tenant_id", "id"]
        assert [i["column_names"] for i in inspect(conn).get_indexes("keys_made")] == [["id"]]
        conn.rollback()


# --- the migration, on a database the demo filled -------------------------------


@pytest.fixture
def scratch_app(tmp_path, monkeypatch) -> Iterator:
    url = make_url(os.environ["PREMIA_TEST_DATABASE_URL"])
    scratch_name = SCRATCH.format(url.database)
    server = url.set(drivername="postgresql", database="postgres")
    conninfo = server.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{scratch_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{scratch_name}"')
    monkeypatch.setenv("PREMIA_INSTANCE_PATH", str(tmp_path))
    scratch = url.set(database=scratch_name).render_as_string(hide_password=False)
    application = create_app(
        {"TESTING": True, "PREMIA_DATABASE_URL": scratch, "PREMIA_REDIS_URL": None}
    )
    try:
        with application.app_context():
            yield application
    finally:
        application.extensions["premia"].engine.dispose()
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{scratch_name}" WITH (FORCE)')


def _migrate(app, direction, target: str) -> None:
    config = alembic_config(app.extensions["premia"].plugins)
    with app.extensions["premia"].engine.begin() as connection:
        config.attributes["connection"] = connection
        direction(config, target)


def _contents(conn) -> dict[str, list[tuple]]:
    tables = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
    return {t: list(conn.execute(text(f'SELECT * FROM "{t}" ORDER BY 1'))) for t in tables}


def test_the_migration_keeps_every_row_and_reference_of_a_demo_database(scratch_app):
    engine = scratch_app.extensions["premia"].engine
    upgrade(scratch_app)
    _migrate(scratch_app, command.downgrade, "core_0015_inicio")  # the keys before this round
    with engine.connect() as conn:
        assert _primary_key(conn, "memberships") == ["id"]
        assert len(key_problems(conn)) > 40  # every tenant-owned table's key
        old = _catalogue(conn)
    # Today's code writes the outbox (a later migration's table) as it fills the demo.
    with engine.begin() as conn:
        OutboxRow.__table__.create(conn)
    demo.ensure_demo(scratch_app)
    with engine.begin() as conn:
        assert conn.scalar(text("SELECT count(*) FROM outbox")) == 0  # each relayed
        OutboxRow.__table__.drop(conn)
    with engine.connect() as conn:
        before = _contents(conn)
    assert len(before["ledger_entries"]) > 100 and len(before["memberships"]) == 40

    upgrade(scratch_app)
    with engine.connect() as conn:
        assert key_problems(conn) == []
        after = _contents(conn)
        # Tables of the migrations after the keys' start empty; the others kept every row.
        assert {t: rows for t, rows in after.items() if t not in before if rows} == {}
        assert {t: rows for t, rows in after.items() if t in before} == before
        new = _catalogue(conn)
    new.pop("outbox")
    references = {
        table: {c for c in found if "FOREIGN KEY" in c[1]} for table, found in old.items()
    }
    # but for core_0020's and core_0021's change: the ledger's entries and lots, and the
    # purchases, reach their tenant through their member, whose key cascades
    for table in ("ledger_entries", "ledger_lots", "purchases"):
        member = f"fk_{table}_tenant_id_member_id_memberships"
        to_member = "FOREIGN KEY (tenant_id, member_id) REFERENCES memberships(tenant_id, id)"
        references[table].remove(
            (
                f"fk_{table}_tenant_id_tenants",
                "FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE",
            )
        )
        references[table].remove((member, to_member))
        references[table].add((member, f"{to_member} ON DELETE CASCADE"))
    assert references == {
        table: {c for c in found if "FOREIGN KEY" in c[1]}
        for table, found in new.items()
        if table in old  # the tables of later migrations aside
    }  # every foreign key made again, as it was
    kept = sum(len(found) for table, found in new.items() if table in old)
    assert kept < sum(len(found) for found in old.values())

    _migrate(scratch_app, command.downgrade, "core_0015_inicio")
    with engine.connect() as conn:
        assert _contents(conn) == before
        assert _catalogue(conn) == old  # the downgrade restores the keys exactly
