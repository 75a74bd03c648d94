"""Survey rules: the link on the e-mail of points received (signed, per member and
visit), once per N days, the answer paid once by ledger key (also under concurrency),
expiry, and the NPS arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.host.actors import Actor
from core.host.db import clock_at
from core.host.errors import Conflict, InvalidInput, NotFound
from core.loyalty.ledger import Entry
from core.loyalty.members import Membership
from plugins.nps import surveys
from plugins.nps.models import Survey
from tests.concurrency import run_together, unexpected_errors
from tests.plugins.nps.helpers import (
    configure,
    mails_to,
    owner_and_location,
    survey_links,
    text_of,
    visit,
)
from tests.plugins.nps.helpers import surveys as all_surveys
from tests.tokens import tampered


def balance(db, tenant, member) -> int:
    with db(tenant) as session:
        return session.get(Membership, member.id).balance


def nps_entries(db, tenant) -> list[int]:
    with db(tenant) as session:
        return list(session.scalars(select(Entry.points).where(Entry.kind == "nps")))


def test_the_nps_of_six_promoters_two_passives_two_detractors_is_40(make_tenant, make_member, db):
    shop = make_tenant()
    member = make_member(shop)
    configure(db, shop, every_days=0)
    for score in [9, 10, 9, 10, 9, 10, 7, 8, 0, 6]:
        entry = visit(db, shop, member)
        with db(shop) as session:
            survey = surveys.offer(session, session.get(Membership, member.id), entry=entry)
            surveys.answer(session, survey.id, score, None, actor=Actor.system())
            session.commit()
    with db(shop) as session:
        score = surveys.score_between(session, None, None)
    assert (score.promoters, score.passives, score.detractors) == (6, 2, 2)
    assert score.nps == 40
    assert surveys.net_promoter_score(0, 0, 0) is None
    assert surveys.net_promoter_score(1, 0, 2) == -33
    assert [surveys.band(s) for s in (0, 6, 7, 8, 9, 10)] == [
        "detractor",
        "detractor",
        "passive",
        "passive",
        "promoter",
        "promoter",
    ]


def test_the_points_e_mail_carries_a_signed_link_recording_employee_and_location(
    make_tenant, make_member, db, smtp_server
):
    # The notifications plugin asks the hook mail_links as it sends; nps answers the link.
    shop = make_tenant(name="Café Central")
    configure(db, shop, earn_bonus=25)
    member = make_member(shop, email="ana@mail.example")
    staff_id, location_id = owner_and_location(db, shop)
    entry = visit(db, shop, member, staff_id=staff_id, location_id=location_id)
    welcome, received = mails_to(smtp_server, "ana@mail.example", 2)
    assert survey_links(welcome) == []  # a welcome is no visit
    [link] = survey_links(received)
    assert "/t/" + shop.slug + "/surveys/" in link
    assert "gana 25 puntos" in text_of(received)
    [survey] = all_surveys(db, shop)
    assert (survey.member_id, survey.event, survey.source_id) == (member.id, "earn", entry.id)
    assert (survey.staff_id, survey.location_id, survey.bonus) == (staff_id, location_id, 25)
    assert survey.expires_at - survey.created_at == timedelta(days=14)
    with db(shop) as session:
        assert surveys.survey_for_token(session, link.rsplit("/", 1)[1]).id == survey.id


def test_a_member_is_asked_at_most_once_every_n_days(make_tenant, make_member, db, smtp_server):
    shop = make_tenant()
    configure(db, shop, every_days=7)
    member = make_member(shop, email="bo@mail.example")
    start = datetime(2026, 12, 1, 15, tzinfo=UTC)
    with clock_at(start):
        visit(db, shop, member)
    with clock_at(start + timedelta(days=6, hours=23)):
        visit(db, shop, member)
    with clock_at(start + timedelta(days=7, hours=1)):
        visit(db, shop, member)
    mails = mails_to(smtp_server, "bo@mail.example", 4)
    assert [len(survey_links(m)) for m in mails[1:]] == [1, 0, 1]
    assert len(all_surveys(db, shop)) == 2


def test_switched_off_for_earnings_no_link_and_no_survey(make_tenant, make_member, db, smtp_server):
    shop = make_tenant()
    configure(db, shop, on_earn=False)
    member = make_member(shop, email="cy@mail.example")
    visit(db, shop, member)
    assert survey_links(mails_to(smtp_server, "cy@mail.example", 2)[1]) == []
    assert all_surveys(db, shop) == []


def test_an_answer_pays_its_bonus_once_and_a_second_answer_is_refused(
    make_tenant, make_member, db, smtp_server
):
    shop = make_tenant()
    configure(db, shop, earn_bonus=30)
    member = make_member(shop)
    entry = visit(db, shop, member, points=50)
    with db(shop) as session:
        survey = surveys.offer(session, session.get(Membership, member.id), entry=entry)
        session.commit()
    with db(shop) as session:
        with pytest.raises(InvalidInput) as bad:
            surveys.answer(session, survey.id, 11, "x", actor=Actor.system())
        assert set(bad.value.fields) == {"score"}
        with pytest.raises(InvalidInput):
            surveys.answer(session, survey.id, 5, "x" * 1001, actor=Actor.system())
        surveys.answer(session, survey.id, 9, "  Muy bien  ", actor=Actor.system())
        session.commit()
    with db(shop) as session, pytest.raises(Conflict):
        surveys.answer(session, survey.id, 3, None, actor=Actor.system())
    assert balance(db, shop, member) == 80
    assert nps_entries(db, shop) == [30]
    [answered] = all_surveys(db, shop)
    assert (answered.score, answered.comment) == (9, "Muy bien")


def test_an_expired_link_is_refused_and_pays_nothing(make_tenant, make_member, db):
    shop = make_tenant()
    configure(db, shop, earn_bonus=30, link_days=3)
    member = make_member(shop)
    start = datetime(2026, 12, 1, 15, tzinfo=UTC)
    with clock_at(start):
        entry = visit(db, shop, member, points=50)
        with db(shop) as session:
            survey = surveys.offer(session, session.get(Membership, member.id), entry=entry)
            session.commit()
    with clock_at(start + timedelta(days=3, seconds=1)), db(shop) as session:
        assert not surveys.is_open(survey)
        with pytest.raises(Conflict):
            surveys.answer(session, survey.id, 10, None, actor=Actor.system())
    assert balance(db, shop, member) == 50


def test_forged_and_foreign_links_are_not_found(make_tenant, make_member, db):
    shop, other = make_tenant(), make_tenant()
    member = make_member(shop)
    entry = visit(db, shop, member)
    with db(shop) as session:
        survey = surveys.offer(session, session.get(Membership, member.id), entry=entry)
        session.commit()
        token = surveys.token_for(survey)
    with db(shop) as session:
        assert surveys.survey_for_token(session, token).id == survey.id
        for bad in (tampered(token), "x", token + "x"):
            with pytest.raises(NotFound):
                surveys.survey_for_token(session, bad)
    with db(other) as session, pytest.raises(NotFound):
        surveys.survey_for_token(session, token)  # signed, but another merchant's


@pytest.mark.postgres
def test_ten_concurrent_answers_of_one_survey_pay_once(app, make_tenant, make_member, db, sessions):
    shop = make_tenant()
    configure(db, shop, earn_bonus=40)
    member = make_member(shop)
    entry = visit(db, shop, member, points=10)
    with db(shop) as session:
        survey = surveys.offer(session, session.get(Membership, member.id), entry=entry)
        session.commit()

    def work(i: int) -> str:
        with sessions(shop.id) as session:
            try:
                surveys.answer(session, survey.id, i, None, actor=Actor.system())
            except Conflict:
                return "refused"
            session.commit()
            return "answered"

    results = run_together(app, 10, work)
    assert unexpected_errors(results) == []
    assert sorted(r[1] for r in results) == ["answered"] + ["refused"] * 9
    assert nps_entries(db, shop) == [40]
    assert balance(db, shop, member) == 50
    with db(shop) as session:
        assert (
            session.scalar(select(func.count(Survey.id)).where(Survey.answered_at.is_not(None)))
            == 1
        )
