"""Staging tables and many rows written at once (`write_rows`): the session's tenant
on every row whatever the caller says, the columns' defaults filled in as the ORM
fills them, and another merchant seeing none of it."""

from __future__ import annotations

from sqlalchemy import select, text

from core.host.staging import stage, write_rows
from core.loyalty.locations import Location


def test_rows_are_the_sessions_tenants_with_their_defaults(make_tenant, db):
    shop, other = make_tenant(), make_tenant()
    with db(shop) as session:
        written = write_rows(
            session,
            Location,
            [
                {"name": "Centro", "address": "Calle 1", "city": "Bogotá"},
                # A tenant named by the caller is overruled: rows are the session's.
                {"name": "Norte", "address": None, "city": None, "tenant_id": other.id},
            ],
        )
        assert write_rows(session, Location, []) == 0
        session.commit()
    assert written == 2
    with db(shop) as session:
        got = session.execute(
            select(Location.name, Location.city, Location.active, Location.tenant_id).order_by(
                Location.name
            )
        ).all()
        assert got == [("Centro", "Bogotá", True, shop.id), ("Norte", None, True, shop.id)]
    with db(other) as session:
        assert session.scalars(select(Location)).all() == []


def test_a_rolled_back_write_leaves_nothing(make_tenant, db):
    shop = make_tenant()
    with db(shop) as session:
        write_rows(session, Location, [{"name": "Sur"}])
        session.rollback()
    with db(shop) as session:
        assert session.scalars(select(Location)).all() == []


def test_a_staging_table_is_emptied_before_each_load(make_tenant, db):
    shop = make_tenant()
    columns = (("n", "INTEGER PRIMARY KEY"), ("word", "VARCHAR(10)"))
    with db(shop) as session:
        conn = session.connection()
        stage(conn, "test_staged", columns, [(1, "uno"), (2, "dos")])
        stage(conn, "test_staged", columns, [(3, "tres")])
        assert conn.execute(text("SELECT n, word FROM test_staged")).all() == [(3, "tres")]
        session.rollback()
