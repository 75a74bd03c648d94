"""`premia import customers|points SLUG FILE`: the panel's import, here and now, with
the report printed."""

from __future__ import annotations

from sqlalchemy import select

from core.loyalty.members import Membership


def test_import_customers_then_points_from_the_command_line(app, db, shop, write_csv):
    runner = app.test_cli_runner()
    customers = write_csv(
        [
            ["first_name", "last_name", "email", "points"],
            ["Ana", "Núñez", "ana@example.com", "1250"],
            ["Bea", "Ruiz", "bea@", "3"],
        ],
        delimiter=",",
        encoding="utf-8",
    )
    result = runner.invoke(args=["import", "customers", "cafe", str(customers)])
    assert result.exit_code == 0, result.output
    assert "created 1" in result.output and "refused 1" in result.output
    assert "row 3: email: Ingresa un correo electrónico válido." in result.output
    again = runner.invoke(args=["import", "customers", "cafe", str(customers), "--update"])
    assert "created 0, updated 1" in again.output
    points = write_csv([["email", "points", "description"], ["ana@example.com", "50", "Campaña"]])
    result = runner.invoke(args=["import", "points", "cafe", str(points)])
    assert "granted 1" in result.output, result.output
    with db(shop) as session:
        ana = session.scalar(select(Membership))
        assert ana.balance == 1300


def test_an_unknown_merchant_or_a_useless_file_is_refused(app, shop, make_tenant, write_csv):
    runner = app.test_cli_runner()
    path = write_csv([["color"], ["rojo"]])
    assert (
        "no tenant 'nadie'" in runner.invoke(args=["import", "points", "nadie", str(path)]).output
    )
    refused = runner.invoke(args=["import", "customers", "cafe", str(path)])
    assert refused.exit_code != 0 and "columna de correos" in refused.output
    make_tenant(slug="gratis")  # the free plan has no csv_import
    off = runner.invoke(args=["import", "customers", "gratis", str(path)])
    assert off.exit_code != 0 and "not active" in off.output
