"""An import's set-based writes (members by COPY, their points and welcome points in
bulk) keep the merchant's totals (core.loyalty.member_totals) equal to a full count."""

from __future__ import annotations

from sqlalchemy import func, select

from core.loyalty import member_totals
from core.loyalty.members import Membership
from core.loyalty.program import update_program
from tests.plugins.csv_import.helpers import counts, import_file


def _both(db, tenant) -> tuple[member_totals.Totals, member_totals.Totals]:
    with db(tenant) as session:
        members, points = session.execute(
            select(func.count(Membership.id), func.coalesce(func.sum(Membership.balance), 0))
        ).one()
        return member_totals.current(session), member_totals.Totals(members, points)


def test_imports_keep_the_totals(db, shop, make_tenant, make_member, write_csv):
    other = make_tenant(slug="otro", plan="white-label")
    make_member(other)
    with db(shop) as session:
        update_program(session, {"welcome_points": 5})
        session.commit()
    ana = make_member(shop, email="ana@example.com")
    customers = write_csv(
        [
            ["Nombres", "Apellidos", "E-mail", "Documento de identidad", "Puntos"],
            ["Bea", "Ruiz", "bea@example.com", "1021", "1.250"],
            ["Cid", "Mora", "cid@example.com", "1022", ""],
            ["Dan", "Paz", "no-es-correo", "1023", "7"],  # refused: nothing written
        ]
    )
    imported = import_file(db, shop, customers, "customers")
    assert counts(db, shop, imported)["created"] == 2
    kept, counted = _both(db, shop)
    # ana's welcome (5), bea's 1,250 and welcome (5), cid's welcome (5)
    assert kept == counted == member_totals.Totals(3, 1265)
    points = write_csv([["codigo", "puntos"], [ana.code, "9"], ["ZZZZZZZ", "4"]])
    assert counts(db, shop, import_file(db, shop, points, "points"))["granted"] == 1
    kept, counted = _both(db, shop)
    assert kept == counted == member_totals.Totals(3, 1274)
    assert _both(db, other)[0] == member_totals.Totals(1, 0)
