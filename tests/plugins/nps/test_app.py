"""Encuestas in the customer app: a menu entry only while a survey is open, the open
surveys answered there, another person's survey not found."""

from __future__ import annotations

import html

from core.loyalty.members import Membership
from core.testing.weblogin import csrf_token, sign_in_customer
from plugins.nps import surveys as service
from tests.plugins.nps.helpers import configure, surveys, visit


def open_survey(db, tenant, member, points=50):
    entry = visit(db, tenant, member, points=points)
    with db(tenant) as session:
        survey = service.offer(session, session.get(Membership, member.id), entry=entry)
        session.commit()
        return survey


def test_the_member_answers_an_open_survey_in_the_app(app, client, make_tenant, make_member, db):
    shop = make_tenant(slug="cafe")
    configure(db, shop, earn_bonus=15)
    member = make_member(shop, email="ana@mail.example")
    sign_in_customer(client, app, member)
    card = client.get("/t/cafe/app/").get_data(as_text=True)
    assert 'href="/t/cafe/app/surveys/"' not in card  # nothing open: no entry
    survey = open_survey(db, shop, member)
    card = client.get("/t/cafe/app/").get_data(as_text=True)
    assert 'href="/t/cafe/app/surveys/"' in card and ">Encuestas<" in card
    listing = client.get("/t/cafe/app/surveys/")
    assert listing.status_code == 200
    text = html.unescape(listing.get_data(as_text=True))
    assert f'id="survey-{survey.id}"' in text and "Responde y gana 15 puntos." in text
    url = f"/t/cafe/app/surveys/{survey.id}"
    assert f'action="{url}"' in text
    refused = client.post(url, data={"csrf_token": csrf_token(text)})
    assert refused.status_code == 422
    assert "Elige una puntuación de 0 a 10." in html.unescape(refused.get_data(as_text=True))
    done = client.post(
        url,
        data={
            "csrf_token": csrf_token(text),
            f"s{survey.id}-score": "8",
            f"s{survey.id}-comment": "Bien",
        },
    )
    assert done.status_code == 200
    assert "Ganaste 15 puntos." in html.unescape(done.get_data(as_text=True))
    with db(shop) as session:
        assert session.get(Membership, member.id).balance == 65
    assert (surveys(db, shop)[0].score, surveys(db, shop)[0].comment) == (8, "Bien")
    after = client.get("/t/cafe/app/surveys/").get_data(as_text=True)
    assert "No hay encuestas esperando tu respuesta." in html.unescape(after)
    assert 'href="/t/cafe/app/surveys/"' not in client.get("/t/cafe/app/").get_data(as_text=True)


def test_another_persons_or_merchants_survey_is_not_found(
    app, client, make_tenant, make_member, db
):
    shop, bar = make_tenant(slug="cafe"), make_tenant(slug="bar")
    mine = make_member(shop, email="ana@mail.example")
    make_member(bar, email="ana@mail.example")  # the same person, a member of both
    theirs = open_survey(db, shop, make_member(shop, email="bo@mail.example"))
    at_bar = open_survey(db, bar, make_member(bar, email="cy@mail.example"))
    sign_in_customer(client, app, mine)
    token = csrf_token(client.get("/t/cafe/app/surveys/").get_data(as_text=True))
    for path, survey in (("cafe", theirs), ("bar", at_bar), ("cafe", at_bar)):
        answer = client.post(
            f"/t/{path}/app/surveys/{survey.id}",
            data={"csrf_token": token, f"s{survey.id}-score": "0"},
        )
        assert answer.status_code == 404
    assert surveys(db, shop)[0].answered_at is None
    assert surveys(db, bar)[0].answered_at is None
    with db(shop) as session:
        assert service.open_surveys(session, session.get(Membership, theirs.member_id))


def test_a_visitor_is_asked_to_sign_in(client, make_tenant):
    make_tenant(slug="cafe")
    answer = client.get("/t/cafe/app/surveys/")
    assert answer.status_code == 302 and "/app/login" in answer.headers["Location"]
