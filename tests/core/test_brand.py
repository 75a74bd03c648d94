"""The core's brand look: the theme's colours (the example café and beauty-salon themes
and their template overrides included), a plugin's `brand_look` answer over them, asked
once per request, and the e-mails' sender taken from it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from core.web import brand, themes
from core.web.mail import build_message, render_mail
from tests.core import brand_plugin

pytestmark = pytest.mark.premia_plugins(brand_plugin)


def test_the_example_themes_have_default_as_parent_and_their_own_colours():
    for name in ("cafe", "salon"):
        info = themes.theme_info(name)
        assert info["parent"] == "default" and themes.chain(name) == [name, "default"]
        assert (themes.THEMES_ROOT / name / "templates").is_dir()
    assert themes.colors("cafe")["primary"] == "#6f4e37"
    assert themes.colors("salon")["primary"] == "#9d174d"


def test_a_tenant_draws_with_its_themes_colours_and_overrides(app, make_tenant, client):
    salon = make_tenant("salon", name="Salón Rosa", plan="white-label", domain="citas.rosa.example")
    cafe = make_tenant("cafe", name="Café Moka")
    with app.app_context():
        from core.host.db import platform_session

        with platform_session(app.extensions["premia"].sessions) as session:
            from tenants.models import Tenant

            session.get(Tenant, salon.id).theme = "salon"
            session.get(Tenant, cafe.id).theme = "cafe"
            session.commit()
            salon, cafe = session.get(Tenant, salon.id), session.get(Tenant, cafe.id)
            session.expunge_all()
    with app.test_request_context():
        assert brand.look(salon).colors["primary"] == "#9d174d"
        _subject, _text, html = render_mail(
            salon,
            "mail/app_reset",
            "es",
            url="https://x",
            customer=SimpleNamespace(first_name="Eva"),
        )
        assert 'width="560"' in html and "#f9a8d4" in html  # the salon's own mail/base.html
        assert "Premia" not in html
    # The salon's error page and the café's offline page are the themes' overrides.
    missing = client.get("/app/nada", base_url="http://citas.rosa.example")
    page = missing.get_data(as_text=True)
    assert missing.status_code == 404 and 'class="app-card app-error"' in page
    assert "#9d174d" in page and "Salón Rosa" in page
    offline = client.get("/t/cafe/app/offline").get_data(as_text=True)
    assert "☕" in offline and "#6f4e37" in offline


def test_a_plugins_answer_is_drawn_over_the_theme_asked_once(app, make_plan, make_tenant):
    make_plan("looks", {"looks"})
    shop = make_tenant("tienda", name="Tienda", plan="looks", email="hola@tienda.example")
    plain = make_tenant("otra", name="Otra")
    brand_plugin.calls.clear()
    with app.test_request_context():
        shown = brand.look(shop)
        assert shown.colors["primary"] == "#123456"
        assert shown.colors["accent"] == themes.colors("default")["accent"]
        assert shown.font_stack.startswith('"Lora"')
        assert brand.look(shop) is shown and brand_plugin.calls == [shop.id]
        message = build_message(shop, "ana@mail.example", "Hola", "texto", "<p>html</p>")
        assert message["From"] == "Tienda Club <no-reply@localhost>"
        assert message["Reply-To"] == "hola@tienda.example"
        # A merchant whose plan leaves the plugin out: the theme's look, its own name.
        assert brand.look(plain).colors["primary"] == themes.colors("default")["primary"]
        assert build_message(plain, "a@b.example", "s", "t", "h")["From"].startswith("Otra ")
    # The preview draws with another look for a while, then the saved one again.
    with app.test_request_context():
        other = brand.theme_look(shop)
        with brand.previewing(shop, other):
            assert brand.look(shop) is other
        assert brand.look(shop).colors["primary"] == "#123456"
