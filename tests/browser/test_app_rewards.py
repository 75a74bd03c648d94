"""A customer's phone (390×844) in the app: the rewards with their images, a request,
withdrawing it, and the news; no page scrolls sideways and nothing breaks the
Content-Security-Policy. Screenshots: build/screenshots/app-*.png."""

from __future__ import annotations

import io
from datetime import date

from core.host.actors import Actor
from core.host.db import platform_session, tenant_session, utcnow
from core.loyalty import ledger, rewards
from core.loyalty.members import Customer
from core.loyalty.program import update_program
from core.testing.factories import PASSWORD
from core.web.passwords import hash_password
from core.web.uploads import save_image
from plugins.news.news import create_news
from tests.browser.conftest import PHONE, csp_violations, shoot
from tests.core.panel.managing import png

WIDTH = PHONE["viewport"]["width"]
REACH = "document.documentElement.scrollWidth"


def test_a_phone_requests_a_reward_withdraws_it_and_reads_the_news(
    app, live_server, browser, make_tenant, make_member, tmp_path
):
    app.config["PREMIA_UPLOAD_FOLDER"] = str(tmp_path)
    platform = app.extensions["premia"]
    shop = make_tenant(slug="cafe", name="Café de la Esquina Mayor", email="cafe@x.example")
    member = make_member(shop, "ana@mail.example")
    image = save_image(shop.id, io.BytesIO(png(1200, 400)))
    with tenant_session(platform.sessions, shop.id) as session:
        update_program(session, {"customer_redemption_requests": True})
        ledger.earn(session, member, points=1500, actor=Actor.system())
        rewards.create_reward(
            session,
            name="Desayuno completo para dos personas con jugo natural",
            description="Huevos, arepa, chocolate y fruta de temporada.",
            points=1200,
            stock=4,
            image=image,
        )
        rewards.create_reward(session, name="Torta entera", points=5000)
        create_news(
            session,
            title="Martes de 2x1 en todos los cafés de la casa",
            body="Todos los martes de diciembre.",
            image=image,
            starts_on=date(2026, 1, 1),
            ends_on=date(2099, 12, 31),
        )
        session.commit()
    with platform_session(platform.sessions) as session:
        account = session.get(Customer, member.customer_id)
        account.password_hash = hash_password(PASSWORD)
        account.email_confirmed_at = utcnow()  # a confirmed account signs in
        session.commit()
    context = browser.new_context(**PHONE, locale="es-CO")
    violations = csp_violations(context)
    page = context.new_page()
    # A visitor is sent to sign in, and comes back to the rewards.
    page.goto(f"{live_server.url}/t/cafe/app/rewards/")
    page.get_by_label("Correo electrónico").fill("ana@mail.example")
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Ingresar").click()
    too_wide: dict[str, int] = {}

    def check(name: str) -> None:
        page.wait_for_load_state("networkidle")
        shoot(page, f"app-{name}")
        if page.evaluate(REACH) > WIDTH:
            too_wide[name] = page.evaluate(REACH)

    check("rewards")
    assert page.url == f"{live_server.url}/t/cafe/app/rewards/"
    assert page.get_by_text("Te faltan 3.500 puntos.").is_visible()
    assert page.locator("li.reward img").first.evaluate("img => img.naturalWidth") == 1200
    page.get_by_role("button", name="Solicitarla").click()
    check("requests")
    assert page.locator("li.request .status").inner_text() == "Pendiente"
    page.get_by_role("button", name="Cancelar solicitud").click()
    page.wait_for_load_state()
    assert page.locator("li.request .status").inner_text() == "Cancelada"
    page.get_by_role("link", name="Novedades").click()
    check("news")
    assert page.get_by_text("Del 1 de enero de 2026 al 31 de diciembre de 2099").is_visible()
    assert too_wide == {}
    assert violations == []
    with tenant_session(platform.sessions, shop.id) as session:
        assert ledger.audit_member(session, member.id) == (1500, 1500, 1500)
    context.close()
