"""`premia token create|list|revoke`."""

from __future__ import annotations

from sqlalchemy import select

from core.cli import main
from plugins.api.models import ApiToken


def run(app, *args):
    return app.test_cli_runner().invoke(main, list(args))


def test_create_prints_the_token_alone_on_the_last_line(app, shop, call, db):
    done = run(app, "token", "create", shop.slug, "--name", "Caja 1", "--scopes", "all")
    assert done.exit_code == 0, done.output
    secret = done.output.strip().splitlines()[-1]
    assert secret.startswith("prm_") and " " not in secret
    assert call("GET", "/program", secret).status_code == 200
    with db(shop) as session:
        row = session.scalars(select(ApiToken)).one()
    assert row.name == "Caja 1" and "program:write" in row.scopes


def test_default_and_listed_scopes(app, shop, db):
    run(app, "token", "create", shop.slug, "--name", "Caja 2")
    run(app, "token", "create", shop.slug, "--name", "ERP", "--scopes", "rewards:write")
    with db(shop) as session:
        scopes = dict(session.execute(select(ApiToken.name, ApiToken.scopes)).all())
    assert scopes == {
        "Caja 2": "customers:write points:write redemptions:write",
        "ERP": "rewards:write",
    }
    listed = run(app, "token", "list", shop.slug)
    assert "Caja 2" in listed.output and "ERP" in listed.output and "prm_" in listed.output


def test_bad_scopes_names_or_tenants_are_refused(app, shop, db):
    assert run(app, "token", "create", shop.slug, "--name", "X", "--scopes", "root").exit_code
    assert run(app, "token", "create", shop.slug, "--name", "").exit_code
    assert run(app, "token", "create", "no-such-shop", "--name", "X").exit_code
    with db(shop) as session:
        assert session.scalars(select(ApiToken)).all() == []


def test_revoke_stops_the_token(app, shop, call, db):
    secret = run(app, "token", "create", shop.slug, "--name", "Caja").output.split()[-1]
    with db(shop) as session:
        token_id = session.scalars(select(ApiToken.id)).one()
    assert run(app, "token", "revoke", shop.slug, str(token_id)).exit_code == 0
    assert call("GET", "/program", secret).status_code == 401
    assert run(app, "token", "revoke", shop.slug, "999999").exit_code != 0
