"""Encuestas in the panel and the NPS on Inicio: answers with member, score, comment,
employee and location, filtered by dates and band, exported formula-safe; managers
only; only the merchant's own; detractors e-mailed to the merchant when asked;
redemptions surveyed when asked."""

from __future__ import annotations

import csv
import html
import io
from datetime import UTC, datetime

from core.host.actors import Actor
from core.host.db import clock_at
from core.loyalty.members import Membership
from core.loyalty.rewards import create_reward, redeem_reward
from core.loyalty.staff import Role, StaffUser
from core.testing.weblogin import flashes, login, token
from plugins.nps import surveys as service
from plugins.nps.hooks import member_erased
from tests.core.panel.test_settings import _form as settings_form
from tests.plugins.nps.helpers import (
    configure,
    mails_to,
    owner_and_location,
    survey_links,
    surveys,
    text_of,
    visit,
)


def answered(db, tenant, member, score, comment=None, *, when, staff_id=None, location_id=None):
    with clock_at(when):
        entry = visit(db, tenant, member, staff_id=staff_id, location_id=location_id)
        with db(tenant) as session:
            survey = service.offer(session, session.get(Membership, member.id), entry=entry)
            service.answer(session, survey.id, score, comment, actor=Actor.system())
            session.commit()
            return survey


def test_the_answers_list_filters_by_band_and_dates(client, make_tenant, make_member, db):
    shop = make_tenant(slug="cafe", timezone="America/Bogota")
    configure(db, shop, every_days=0)
    staff_id, location_id = owner_and_location(db, shop)
    ana = make_member(shop, first_name="Ana", last_name="Ruiz")
    low = answered(
        db,
        shop,
        ana,
        3,
        "Café frío",
        when=datetime(2026, 12, 2, 15, tzinfo=UTC),
        staff_id=staff_id,
        location_id=location_id,
    )
    high = answered(db, shop, ana, 10, "Genial", when=datetime(2026, 12, 3, 15, tzinfo=UTC))
    # 02:00 UTC on 4 December is still the 3rd in Bogotá
    late = answered(db, shop, ana, 8, when=datetime(2026, 12, 4, 2, tzinfo=UTC))
    other = make_tenant(slug="bar")
    answered(db, other, make_member(other), 0, "Del bar", when=datetime(2026, 12, 3, tzinfo=UTC))
    login(client, db, shop)
    page = html.unescape(client.get("/t/cafe/panel/nps/").get_data(as_text=True))
    assert [f'id="answer-{s.id}"' in page for s in (low, high, late)] == [True] * 3
    assert "Del bar" not in page
    row = page[page.index(f'id="answer-{low.id}"') :].split("</tr>")[0]
    assert "Ana Ruiz" in row and "Café frío" in row and "Centro" in row and ">3<" in row
    with db(shop) as session:
        employee = session.get(StaffUser, staff_id).name
    assert f"<td>{employee}</td>" in row  # who served the visit that prompted it
    detractors = client.get("/t/cafe/panel/nps/?band=detractor").get_data(as_text=True)
    assert f'id="answer-{low.id}"' in detractors and f'id="answer-{high.id}"' not in detractors
    third = client.get("/t/cafe/panel/nps/?start=2026-12-03&end=2026-12-03").get_data(as_text=True)
    assert f'id="answer-{low.id}"' not in third
    assert f'id="answer-{high.id}"' in third and f'id="answer-{late.id}"' in third


def test_the_csv_export_is_formula_safe_and_the_merchants_own(client, make_tenant, make_member, db):
    shop = make_tenant(slug="cafe")
    configure(db, shop, every_days=0)
    eve = make_member(shop, first_name="=HYPERLINK(1)", last_name="")
    answered(db, shop, eve, 2, '=cmd|" /C calc"!A0', when=datetime(2026, 12, 2, 15, tzinfo=UTC))
    answered(db, shop, eve, 9, "+bien", when=datetime(2026, 12, 3, 15, tzinfo=UTC))
    other = make_tenant(slug="bar")
    answered(db, other, make_member(other), 0, "Del bar", when=datetime(2026, 12, 3, tzinfo=UTC))
    login(client, db, shop)
    answer = client.get("/t/cafe/panel/nps/answers.csv?band=detractor")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = list(
        csv.reader(io.StringIO(answer.get_data(as_text=True).lstrip("\ufeff")), delimiter=";")
    )
    assert rows[0][:5] == [
        "Fecha",
        "Código de cliente",
        "Cliente",
        "Correo electrónico",
        "Puntuación",
    ]
    assert len(rows) == 2
    assert rows[1][2] == "'=HYPERLINK(1)" and rows[1][4] == "2"
    assert rows[1][5] == "Detractores (0–6)" and rows[1][6] == '\'=cmd|" /C calc"!A0'
    everything = client.get("/t/cafe/panel/nps/answers.csv").get_data(as_text=True)
    assert "'+bien" in everything and "Del bar" not in everything


def test_employees_may_not_see_the_answers(client, make_tenant, db):
    shop = make_tenant(slug="cafe")
    login(client, db, shop, Role.EMPLOYEE)
    assert client.get("/t/cafe/panel/nps/").status_code == 403
    assert client.get("/t/cafe/panel/nps/answers.csv").status_code == 403


def test_inicio_shows_the_nps_of_the_chosen_dates(client, make_tenant, make_member, db):
    shop = make_tenant(slug="cafe", timezone="America/Bogota")
    configure(db, shop, every_days=0)
    member = make_member(shop)
    for score in [9, 10, 9, 10, 9, 10, 7, 8, 0, 6]:
        answered(db, shop, member, score, when=datetime(2026, 12, 3, 15, tzinfo=UTC))
    answered(db, shop, member, 0, when=datetime(2026, 11, 3, 15, tzinfo=UTC))  # not chosen
    login(client, db, shop)
    with clock_at(datetime(2026, 12, 5, 15, tzinfo=UTC)):
        page = client.get("/t/cafe/panel/?since=2026-12-01&until=2026-12-05").get_data(as_text=True)
    widget = html.unescape(page[page.index('id="nps-widget"') :].split("</section>")[0])
    assert '<span class="value nps-value">40</span>' in widget
    assert '<span class="value nps-promoters">6</span>' in widget
    assert '<span class="value nps-passives">2</span>' in widget
    assert '<span class="value nps-detractors">2</span>' in widget
    # the trend: twelve months, November's single detractor at −100, December's 40
    assert widget.count("<rect ") == 12
    assert "nov 2026: -100" in widget.replace("−", "-") and "dic 2026: 40" in widget


def test_a_detractor_is_e_mailed_to_the_merchant_when_asked(
    make_tenant, make_member, db, smtp_server
):
    shop = make_tenant(slug="cafe", name="Café Central", email="dueno@cafe.example")
    configure(db, shop, mail_detractors=True, every_days=0)
    member = make_member(shop, first_name="Ana", last_name="Ruiz")
    answered(db, shop, member, 9, "Bien", when=datetime(2026, 12, 2, tzinfo=UTC))
    answered(db, shop, member, 4, "El café llegó frío", when=datetime(2026, 12, 3, tzinfo=UTC))
    [alert] = mails_to(smtp_server, "dueno@cafe.example", 1)
    text = text_of(alert)
    assert "Ana Ruiz respondió la encuesta de satisfacción con 4 de 10." in text
    assert "El café llegó frío" in text and "/t/cafe/panel/nps/?band=detractor" in text
    smtp_server.handler.wait_for(len(smtp_server.handler.messages) + 1, timeout=0.5)
    assert len([m for m in smtp_server.handler.messages if "dueno@" in m["To"]]) == 1


def test_a_redemption_is_surveyed_with_its_own_bonus_when_asked(
    make_tenant, make_member, db, smtp_server
):
    shop = make_tenant(slug="cafe")
    configure(db, shop, on_earn=False, on_redemption=True, redemption_bonus=7)
    member = make_member(shop, email="rita@mail.example")
    visit(db, shop, member, points=100)
    with db(shop) as session:
        reward = create_reward(session, name="Café", points=60)
        locked = session.get(Membership, member.id)
        redemption = redeem_reward(session, locked, reward, actor=Actor.system())
        session.commit()
    mails = mails_to(smtp_server, "rita@mail.example", 3)
    links = [survey_links(m) for m in mails]
    assert [len(x) for x in links] == [0, 0, 1]
    [survey] = surveys(db, shop)
    assert (survey.event, survey.source_id, survey.bonus) == ("redemption", redemption.id, 7)


def test_configuracion_draws_the_survey_settings(client, make_tenant, db):
    shop = make_tenant(slug="cafe")
    login(client, db, shop)
    page = html.unescape(client.get("/t/cafe/panel/settings/").get_data(as_text=True))
    assert 'id="plugin-nps"' in page
    section = page[page.index('id="plugin-nps"') :]
    for label in (
        "Enviar una encuesta cuando el cliente recibe puntos",
        "Puntos que gana el cliente al resolver la encuesta enviada al canjear",
        "Preguntar al mismo cliente como máximo una vez cada (días)",
        "Días de validez del enlace de la encuesta",
        "Enviarme al instante por correo las respuestas de detractores (0 a 6)",
    ):
        assert label in section, label


def test_the_survey_settings_are_saved_and_refused_per_field(client, make_tenant, db, platform):
    shop = make_tenant(slug="cafe")
    login(client, db, shop)
    url = "/t/cafe/panel/settings/"
    chosen = {
        "plugin-nps-on_earn": "y",
        "plugin-nps-earn_bonus": "15",
        "plugin-nps-on_redemption": "y",
        "plugin-nps-redemption_bonus": "5",
        "plugin-nps-every_days": "45",
        "plugin-nps-link_days": "7",
        "plugin-nps-mail_detractors": "y",
    }
    answer = client.post(
        url,
        follow_redirects=True,
        data={"csrf_token": token(client, url), **settings_form(**chosen)},
    )
    assert ("success", "Configuración guardada.") in flashes(answer.get_data(as_text=True))
    expected = {
        "on_earn": True,
        "earn_bonus": 15,
        "on_redemption": True,
        "redemption_bonus": 5,
        "every_days": 45,
        "link_days": 7,
        "mail_detractors": True,
    }
    with db(shop) as session:
        assert platform.plugins.settings(session, "nps") == expected
    bad = {"plugin-nps-link_days": "0", "plugin-nps-every_days": "366"}
    refused = client.post(
        url, data={"csrf_token": token(client, url), **settings_form(**{**chosen, **bad})}
    )
    page = html.unescape(refused.get_data(as_text=True))
    assert "Escribe un valor de 1 a 365." in page and "Escribe un valor de 0 a 365." in page
    with db(shop) as session:
        assert platform.plugins.settings(session, "nps") == expected  # nothing saved


def test_an_employee_sees_the_nps_on_inicio_without_the_answers_link(
    client, make_tenant, make_member, db
):
    shop = make_tenant(slug="cafe")
    answered(db, shop, make_member(shop), 10, when=datetime(2026, 12, 3, 15, tzinfo=UTC))
    login(client, db, shop, Role.EMPLOYEE)
    with clock_at(datetime(2026, 12, 5, 15, tzinfo=UTC)):
        page = client.get("/t/cafe/panel/").get_data(as_text=True)
    assert '<span class="value nps-value">100</span>' in page
    assert "/t/cafe/panel/nps/" not in page


def test_an_erased_members_comments_go_and_their_scores_stay(make_tenant, make_member, db):
    shop = make_tenant(slug="cafe")
    member = make_member(shop)
    answered(
        db, shop, member, 3, "Soy Ana, mi teléfono es…", when=datetime(2026, 12, 3, tzinfo=UTC)
    )
    with db(shop) as session:
        member_erased(session, shop, session.get(Membership, member.id), "ana@mail.example")
        session.commit()
    [survey] = surveys(db, shop)
    assert (survey.score, survey.comment) == (3, None)


def test_actividad_links_the_survey_answers_for_managers_only(client, make_tenant, db):
    """`activity_links`: Actividad lists the answers too (a link beside the movements)."""
    shop = make_tenant(slug="cafe")
    login(client, db, shop)
    page = client.get("/t/cafe/panel/activity/").get_data(as_text=True)
    assert 'href="/t/cafe/panel/nps/"' in page and "Respuestas de encuestas" in page
    employee = client.application.test_client()
    login(employee, db, shop, Role.EMPLOYEE)
    page = employee.get("/t/cafe/panel/activity/").get_data(as_text=True)
    assert "/panel/nps/" not in page
