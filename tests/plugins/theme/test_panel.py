"""Configuración → Marca: the look saved with its stylesheet (content hash in the URL,
cached for a year), previewed before saving without writing anything, refused with a
message per field, contrast warnings with a colour that passes; managers of a
white-label merchant only, one merchant's look only."""

from __future__ import annotations

import html
import re

from sqlalchemy import func, select

from core.loyalty.staff import Role
from core.testing.weblogin import csrf_token, login
from plugins.theme import contrast
from plugins.theme.models import Brand
from tests.plugins.theme.conftest import LOOK, png, save_look, stylesheet_url


def _brand_row(db, tenant) -> Brand | None:
    with db(tenant) as session:
        row = session.scalar(select(Brand))
        if row is not None:
            session.expunge(row)
        return row


def test_saving_compiles_a_stylesheet_under_its_hash_cached_for_a_year(manager, db, brand):
    answer = save_look(manager, icon=png())
    assert answer.status_code == 302
    page = manager.get("/t/barrio/panel/brand/").get_data(as_text=True)
    assert "Se guardó el aspecto de tu marca." in html.unescape(page)
    row = _brand_row(db, brand)
    assert row.primary == "#7c2d12" and row.font == "lora" and row.icon
    assert row.sender_name == "Barrio Dulce Panadería"
    # The app's pages link the compiled stylesheet, its hash in the URL.
    app_page = manager.get("/t/barrio/app/login").get_data(as_text=True)
    url = stylesheet_url(app_page)
    assert url.endswith(f"/look-{row.stylesheet_hash}.css")
    css = manager.get(url)
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert "max-age=31536000" in css.headers["Cache-Control"]
    assert "immutable" in css.headers["Cache-Control"]
    body = css.get_data(as_text=True)
    assert "--primary:#7c2d12" in body and '"Lora"' in body
    # The font's files are the app's own, from the npm package, cached long too.
    font = manager.get("/t/barrio/brand/fonts/lora/lora-latin-400-normal.woff2")
    assert font.status_code == 200 and font.data[:4] == b"wOF2"
    assert "max-age=31536000" in font.headers["Cache-Control"]
    # Another look is another URL; the old one is gone (nothing stale is served).
    save_look(manager, primary="#1e3a8a")
    new_url = stylesheet_url(manager.get("/t/barrio/app/login").get_data(as_text=True))
    assert new_url != url
    assert manager.get(url).status_code == 404
    assert "--primary:#1e3a8a" in manager.get(new_url).get_data(as_text=True)


def test_the_preview_shows_the_look_before_saving_and_writes_nothing(manager, db, brand):
    answer = save_look(manager, action="preview", primary="#065f46")
    assert answer.status_code == 200
    page = html.unescape(answer.get_data(as_text=True))
    assert _brand_row(db, brand) is None
    frames = dict(
        (surface, src)
        for surface, src in re.findall(r'data-surface="(\w+)"[^>]*src="([^"]+)"', page)
    )
    assert set(frames) == {"app", "mail", "card"}
    for surface, src in frames.items():
        shown = manager.get(src)
        assert shown.status_code == 200, surface
        assert "frame-ancestors 'self'" in shown.headers["Content-Security-Policy"]
        text = html.unescape(shown.get_data(as_text=True))
        assert "Barrio Dulce" in text and "Premia" not in text, surface
        if surface == "app":  # the colours come in the preview's stylesheet
            css = manager.get(re.search(r'href="([^"]*preview\.css[^"]*)"', text)[1])
            assert "--primary:#065f46" in css.get_data(as_text=True)
        else:
            assert "#065f46" in text, surface
    assert "Barrio Dulce Panadería" not in manager.get(frames["app"]).get_data(as_text=True)
    assert _brand_row(db, brand) is None


def test_bad_input_is_refused_per_field_in_the_users_language_and_nothing_is_written(
    manager, db, brand
):
    answer = save_look(
        manager,
        primary="rojo",
        font="comic-sans",
        reply_to="no es correo",
        terms_url="javascript:alert(1)",
    )
    assert answer.status_code == 200
    page = html.unescape(answer.get_data(as_text=True))
    assert "Escribe un color como # y seis dígitos hexadecimales" in page
    assert "Elige una de las fuentes de la lista." in page
    assert "Escribe una dirección de correo" in page
    assert "Escribe una dirección completa que empiece por https://." in page
    assert _brand_row(db, brand) is None
    # A footer the sandbox refuses is named on the form, and nothing is written either.
    answer = save_look(manager, footer="{{ ''.__class__.__mro__ }}")
    page = html.unescape(answer.get_data(as_text=True))
    assert "El pie de página no se puede usar" in page
    assert _brand_row(db, brand) is None
    # An icon that is not square is refused, and no file is kept.
    answer = save_look(manager, icon=png(600, 300))
    assert "El ícono de la app debe ser cuadrado" in html.unescape(answer.get_data(as_text=True))
    assert _brand_row(db, brand) is None


def test_a_colour_text_cannot_be_read_on_is_warned_with_one_that_passes(manager, db, brand):
    save_look(manager, primary="#3b82f6", accent="#fde68a")
    page = html.unescape(manager.get("/t/barrio/panel/brand/").get_data(as_text=True))
    assert "Es difícil leer el texto sobre este color" in page
    suggestion = re.search(r'data-field="primary" data-color="(#[0-9a-f]{6})"', page)[1]
    assert suggestion != "#3b82f6" and contrast.passes(suggestion)
    assert not contrast.passes("#3b82f6")
    # Saved as chosen (a warning, not a refusal); the readable colour is then accepted quietly.
    assert _brand_row(db, brand).primary == "#3b82f6"
    save_look(manager, primary=suggestion)
    page = html.unescape(manager.get("/t/barrio/panel/brand/").get_data(as_text=True))
    assert "contrast-warning" not in page


def test_managers_of_a_white_label_merchant_only(client, app, db, brand, make_tenant):
    login(client, db, brand, Role.EMPLOYEE)
    assert client.get("/t/barrio/panel/brand/").status_code == 403
    assert client.get("/t/barrio/panel/brand/preview/app").status_code == 403
    free = make_tenant("gratis", plan="free")
    other = app.test_client()
    login(other, db, free)
    assert other.get("/t/gratis/panel/brand/").status_code == 404
    assert (
        other.get("/t/gratis/brand/preview.css?primary=%23000000&accent=%23ffffff").status_code
        == 404
    )
    settings = other.get("/t/gratis/panel/settings/").get_data(as_text=True)
    assert "/panel/brand/" not in settings


def test_another_merchants_look_is_never_reached(manager, app, db, brand, make_tenant):
    save_look(manager)
    row = _brand_row(db, brand)
    rival = make_tenant("rival", plan="white-label")
    other = app.test_client()
    login(other, db, rival)
    # Its stylesheet's hash under the other merchant's path: not found.
    assert other.get(f"/t/rival/brand/look-{row.stylesheet_hash}.css").status_code == 404
    # Its panel page and preview from the other's session: not reachable.
    assert other.get("/t/barrio/panel/brand/").status_code in (302, 403, 404)
    assert other.get("/t/barrio/panel/brand/preview/mail").status_code in (302, 403, 404)
    # Saving under its own slug writes only its own row.
    token = csrf_token(other.get("/t/rival/panel/brand/").get_data(as_text=True))
    other.post(
        "/t/rival/panel/brand/",
        data={**LOOK, "primary": "#111111", "csrf_token": token, "action": "save"},
    )
    assert _brand_row(db, brand).primary == "#7c2d12"
    with db(rival) as session:
        assert session.scalar(select(func.count(Brand.id))) == 1
        assert session.scalar(select(Brand.primary)) == "#111111"
