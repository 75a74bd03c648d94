"""The survey page of the e-mail's signed link: no sign-in, the member's language, the
merchant's theme, answered once with the bonus shown; bad input, expiry, forged or
foreign links."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core.host.db import clock_at
from core.loyalty.ledger import Entry
from core.loyalty.members import Membership
from core.testing.weblogin import csrf_token
from tests.plugins.nps.helpers import (
    configure,
    mails_to,
    path_of,
    speak,
    survey_links,
    surveys,
    text_of,
    visit,
)
from tests.tokens import tampered


def mailed_link(smtp_server, address: str) -> str:
    [link] = survey_links(mails_to(smtp_server, address, 2)[1])
    return path_of(link)


def page(answer) -> str:
    return html.unescape(answer.get_data(as_text=True))


def balance(db, tenant, member) -> int:
    with db(tenant) as session:
        return session.get(Membership, member.id).balance


def test_a_member_answers_from_the_e_mail_in_their_language_once(
    app, client, make_tenant, make_member, db, smtp_server
):
    shop = make_tenant(slug="cafe", name="Café Central")
    configure(db, shop, earn_bonus=20)
    member = make_member(shop, email="lia@mail.example")
    speak(app, member, "pt_BR")
    visit(db, shop, member, points=50)
    mail = mails_to(smtp_server, "lia@mail.example", 2)[1]
    assert "Como foi sua visita? Responda a uma pesquisa de uma pergunta e ganhe 20 pontos." in (
        text_of(mail)
    )
    url = mailed_link(smtp_server, "lia@mail.example")
    form = client.get(url)
    assert form.status_code == 200
    text = page(form)
    assert '<html lang="pt-BR">' in text
    assert "Pesquisa de satisfação" in text and "Responda e ganhe 20 pontos." in text
    assert "Café Central" in text  # the merchant's app bar
    done = client.post(
        url, data={"csrf_token": csrf_token(text), "score": "10", "comment": "Ótimo café"}
    )
    assert done.status_code == 200
    assert "Obrigado pela sua resposta!" in page(done) and "Você ganhou 20 pontos." in page(done)
    assert balance(db, shop, member) == 70
    [survey] = surveys(db, shop)
    assert (survey.score, survey.comment) == (10, "Ótimo café")
    # the link again, and a replayed post: answered, nothing paid twice
    again = client.post(url, data={"csrf_token": csrf_token(text), "score": "0"})
    assert "Esta pesquisa já foi respondida. Obrigado!" in page(again)
    assert "Esta pesquisa já foi respondida. Obrigado!" in page(client.get(url))
    assert balance(db, shop, member) == 70
    assert surveys(db, shop)[0].score == 10


def test_an_answer_without_a_score_is_refused_in_the_form(
    client, make_tenant, make_member, db, smtp_server
):
    shop = make_tenant(slug="cafe")
    configure(db, shop, earn_bonus=20)
    member = make_member(shop, email="max@mail.example")
    visit(db, shop, member)
    url = mailed_link(smtp_server, "max@mail.example")
    token = csrf_token(client.get(url).get_data(as_text=True))
    for data in ({"comment": "hola"}, {"score": "11"}, {"score": "5", "comment": "x" * 1001}):
        refused = client.post(url, data={"csrf_token": token, **data})
        assert refused.status_code == 422
        text = page(refused)
        assert "Elige una puntuación de 0 a 10." in text or "1000" in text
    [survey] = surveys(db, shop)
    assert survey.answered_at is None
    with db(shop) as session:
        assert session.scalar(select(Entry.id).where(Entry.kind == "nps")) is None


def test_an_expired_link_says_so(client, make_tenant, make_member, db, smtp_server):
    shop = make_tenant(slug="cafe")
    configure(db, shop, earn_bonus=20, link_days=2)
    member = make_member(shop, email="ema@mail.example")
    start = datetime(2026, 12, 1, 15, tzinfo=UTC)
    with clock_at(start):
        visit(db, shop, member, points=50)
    url = mailed_link(smtp_server, "ema@mail.example")
    with clock_at(start + timedelta(days=1, hours=23)):
        assert "Envía" not in page(client.get(url))
        token = csrf_token(client.get(url).get_data(as_text=True))
    with clock_at(start + timedelta(days=2, minutes=1)):
        text = page(client.get(url))
        assert "El enlace de esta encuesta ha caducado." in text
        assert 'name="score"' not in text
        answer = client.post(url, data={"csrf_token": token, "score": "9"})
    assert "El enlace de esta encuesta ha caducado." in page(answer)
    assert balance(db, shop, member) == 50


def test_forged_and_other_merchants_links_are_not_found(
    client, make_tenant, make_member, db, smtp_server
):
    shop = make_tenant(slug="cafe")
    make_tenant(slug="bar")
    member = make_member(shop, email="ivo@mail.example")
    visit(db, shop, member)
    url = mailed_link(smtp_server, "ivo@mail.example")
    token = url.rsplit("/", 1)[1]
    assert client.get(url).status_code == 200
    assert client.get(f"/t/bar/surveys/{token}").status_code == 404
    assert client.get(f"/t/cafe/surveys/{tampered(token)}").status_code == 404
    assert client.post(f"/t/bar/surveys/{token}", data={"score": "0"}).status_code in (400, 404)
    assert surveys(db, shop)[0].answered_at is None
