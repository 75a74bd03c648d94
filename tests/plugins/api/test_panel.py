"""The panel's API page: owners and admins create and revoke tokens in the browser."""

from __future__ import annotations

import html
import re

from sqlalchemy import select

from core.loyalty.staff import Role, create_staff
from core.testing.factories import PASSWORD
from core.testing.weblogin import csrf_token, flashes, post_login
from plugins.api.models import ApiToken

NEW_TOKEN = re.compile(r'<code id="new-token">(prm_[^<]+)</code>')


def _owner_email(shop, db):
    from core.loyalty.staff import StaffUser

    with db(shop) as session:
        return session.scalars(select(StaffUser.email).where(StaffUser.role == Role.OWNER)).one()


def test_owner_creates_uses_and_revokes_a_token(client, shop, db, call):
    post_login(client, shop.slug, _owner_email(shop, db), PASSWORD)
    page = client.get(f"/t/{shop.slug}/panel/api/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Dar puntos" in text and "/api/v1/docs" in text  # Spanish, with the docs link
    created = client.post(
        f"/t/{shop.slug}/panel/api/",
        data={
            "name": "Caja 1",
            "scopes": ["points:write", "customers:write"],
            "csrf_token": csrf_token(text),
        },
    )
    shown = created.get_data(as_text=True)
    secret = NEW_TOKEN.search(shown).group(1)
    assert call("GET", "/program", secret).status_code == 200
    with db(shop) as session:
        token = session.scalars(select(ApiToken)).one()
    assert (token.name, token.scopes) == ("Caja 1", "customers:write points:write")
    again = client.get(f"/t/{shop.slug}/panel/api/").get_data(as_text=True)
    assert secret not in again and token.prefix in again  # shown once only
    revoked = client.post(
        f"/t/{shop.slug}/panel/api/{token.id}/revoke",
        data={"csrf_token": csrf_token(again)},
        follow_redirects=True,
    )
    assert ("success", "Token “Caja 1” revocado.") in flashes(revoked.get_data(as_text=True))
    assert call("GET", "/program", secret).status_code == 401


def test_a_token_needs_a_name(client, shop, db):
    post_login(client, shop.slug, _owner_email(shop, db), PASSWORD)
    page = client.get(f"/t/{shop.slug}/panel/api/").get_data(as_text=True)
    refused = client.post(
        f"/t/{shop.slug}/panel/api/", data={"name": "", "csrf_token": csrf_token(page)}
    )
    assert "Ponle un nombre al token." in html.unescape(refused.get_data(as_text=True))
    with db(shop) as session:
        assert session.scalars(select(ApiToken)).all() == []


def test_employees_and_strangers_are_kept_out(client, shop, make_shop, make_token, db):
    assert client.get(f"/t/{shop.slug}/panel/api/").status_code in (302, 401)
    with db(shop) as session:
        create_staff(
            session,
            email="cajero@shop.example",
            name="Cajero",
            password=PASSWORD,
            role=Role.EMPLOYEE,
        )
        session.commit()
    post_login(client, shop.slug, "cajero@shop.example", PASSWORD)
    assert client.get(f"/t/{shop.slug}/panel/api/").status_code == 403


def test_another_merchants_token_cannot_be_revoked(client, shop, make_shop, make_token, db, call):
    other = make_shop()
    their_secret = make_token(other)
    with db(other) as session:
        their_id = session.scalars(select(ApiToken.id)).one()
    post_login(client, shop.slug, _owner_email(shop, db), PASSWORD)
    page = client.get(f"/t/{shop.slug}/panel/api/").get_data(as_text=True)
    answer = client.post(
        f"/t/{shop.slug}/panel/api/{their_id}/revoke", data={"csrf_token": csrf_token(page)}
    )
    assert answer.status_code == 404
    assert call("GET", "/program", their_secret).status_code == 200


def test_the_page_is_not_there_without_the_api(client, make_shop, db):
    free = make_shop(plan="free")
    post_login(client, free.slug, _owner_email(free, db), PASSWORD)
    assert client.get(f"/t/{free.slug}/panel/api/").status_code == 404


def test_configuracion_links_to_the_page_for_those_who_may_open_it(client, shop, make_shop, db):
    """The plugin adds its link through the `settings_links` hook: shown to managers of a
    merchant with the API, not to one without it; the page links back."""
    post_login(client, shop.slug, _owner_email(shop, db), PASSWORD)
    settings = html.unescape(client.get(f"/t/{shop.slug}/panel/settings/").get_data(as_text=True))
    link = f'<a href="/t/{shop.slug}/panel/api/">Tokens de la API para tu punto de venta</a>'
    assert link in settings[settings.index('id="more-settings"') :]
    page = client.get(f"/t/{shop.slug}/panel/api/").get_data(as_text=True)
    assert f'href="/t/{shop.slug}/panel/settings/"' in page

    free = make_shop(plan="free")
    post_login(client, free.slug, _owner_email(free, db), PASSWORD)
    without = client.get(f"/t/{free.slug}/panel/settings/").get_data(as_text=True)
    assert "/panel/api/" not in without and 'id="more-settings"' not in without


def test_each_permission_is_a_checkbox_inside_its_own_label(client, shop, db):
    """Each box sits beside its words in a `label.check` (the layout is checked on a
    phone in tests/browser/test_settings.py)."""
    post_login(client, shop.slug, _owner_email(shop, db), PASSWORD)
    page = client.get(f"/t/{shop.slug}/panel/api/").get_data(as_text=True)
    boxes = re.findall(
        r'<label class="check"><input type="checkbox" name="scopes" value="([^"]+)"', page
    )
    assert boxes == [
        "customers:write",
        "points:write",
        "redemptions:write",
        "rewards:write",
        "program:write",
        "webhooks:write",
    ]
