"""Survey services: offer a survey after a visit, its signed link, answer it once
(paying its bonus once, by ledger key), and the Net Promoter Score of answers.

Rules (the merchant's view):

* a survey is offered on the e-mail of points earned (kind "earn") and/or of a
  confirmed redemption, as the settings say, with the bonus the settings name then;
* a member is asked at most once every `every_days` days, whatever the event;
* its link is signed (tenant, member, survey): usable without signing in, useless
  elsewhere or forged; it lasts `link_days` days and is answered once;
* the answer pays the bonus as an entry of kind "nps" keyed `system:nps:<survey>`,
  so concurrent submissions pay once (the survey's row lock makes the others see
  it answered);
* NPS = % promoters (9–10) − % detractors (0–6), rounded; none without answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from core.sdk import (
    Actor,
    Conflict,
    Entry,
    InvalidInput,
    Kind,
    Membership,
    NotFound,
    Redemption,
    Tenant,
    announce,
    earn,
    enqueue,
    external_url,
    load_settings,
    lock_member,
    session_tenant_id,
    system_key,
    utcnow,
)
from plugins.nps import alerts
from plugins.nps.models import Survey
from plugins.nps.settings import NpsSettings

KIND = "nps"
SALT = "nps-survey"
MAX_COMMENT = 1000
BANDS = ("promoter", "passive", "detractor")


def settings(session: Session) -> dict[str, Any]:
    return load_settings(session, KIND, NpsSettings)


def band(score: int) -> str:
    """A score's band: promoter (9–10), passive (7–8) or detractor (0–6)."""
    return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"


def band_condition(name: str) -> Any:
    """The SQL condition on `Survey.score` for a band."""
    return {
        "promoter": Survey.score >= 9,
        "passive": Survey.score.between(7, 8),
        "detractor": Survey.score <= 6,
    }[name]


def net_promoter_score(promoters: int, passives: int, detractors: int) -> int | None:
    """Percent promoters minus percent detractors, rounded; None without answers."""
    total = promoters + passives + detractors
    if not total:
        return None
    return round(100 * (promoters - detractors) / total)


# --- offering --------------------------------------------------------------


def offer(
    session: Session,
    member: Membership,
    *,
    entry: Entry | None = None,
    redemption: Redemption | None = None,
) -> Survey | None:
    """The survey for this visit (made now, or earlier by a retried job), or None when
    the settings send none for it or the member was asked too recently."""
    config = settings(session)
    if entry is not None:
        if not config["on_earn"] or entry.kind != Kind.EARN or entry.points <= 0:
            return None
        event, source_id, bonus = "earn", entry.id, config["earn_bonus"]
        staff_id = entry.actor_id if entry.actor_kind == "staff" else None
        location_id = entry.location_id
    elif redemption is not None:
        if not config["on_redemption"]:
            return None
        event, source_id, bonus = "redemption", redemption.id, config["redemption_bonus"]
        staff_id = redemption.decided_by_id if redemption.decided_by_kind == "staff" else None
        location_id = redemption.location_id
    else:
        return None
    existing = session.scalar(
        select(Survey).where(Survey.event == event, Survey.source_id == source_id)
    )
    if existing is not None:
        return existing
    # The member's lock serialises two visits' e-mails: the frequency rule holds.
    lock_member(session, member.id)
    now = utcnow()
    if config["every_days"]:
        recent = session.scalar(
            select(Survey.id)
            .where(
                Survey.member_id == member.id,
                Survey.created_at > now - timedelta(days=config["every_days"]),
            )
            .limit(1)
        )
        if recent is not None:
            return None
    survey = Survey(
        member_id=member.id,
        event=event,
        source_id=source_id,
        staff_id=staff_id,
        location_id=location_id,
        bonus=bonus,
        created_at=now,
        expires_at=now + timedelta(days=config["link_days"]),
    )
    session.add(survey)
    session.flush()
    return survey


# --- links -----------------------------------------------------------------


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt=SALT)


def token_for(survey: Survey) -> str:
    return _serializer().dumps([survey.tenant_id, survey.member_id, survey.id])


def survey_link(tenant: Tenant, survey: Survey) -> str:
    """The survey's absolute, signed link (for an e-mail)."""
    return external_url("t.nps_survey.answer_page", tenant, token=token_for(survey))


def survey_for_token(session: Session, token: str) -> Survey:
    """The survey a link names; NotFound for a forged link or another merchant's."""
    try:
        tenant_id, member_id, survey_id = _serializer().loads(token)
    except (BadSignature, ValueError, TypeError):
        raise NotFound() from None
    if tenant_id != session_tenant_id(session):
        raise NotFound()
    survey = session.get(Survey, survey_id)
    if survey is None or survey.member_id != member_id:
        raise NotFound()
    return survey


def is_open(survey: Survey, now: datetime | None = None) -> bool:
    return survey.answered_at is None and survey.expires_at > (now or utcnow())


def open_surveys(session: Session, member: Membership) -> list[Survey]:
    """The member's surveys still waiting for an answer, newest first."""
    return list(
        session.scalars(
            select(Survey)
            .where(
                Survey.member_id == member.id,
                Survey.answered_at.is_(None),
                Survey.expires_at > utcnow(),
            )
            .order_by(Survey.created_at.desc())
        )
    )


# --- answering -------------------------------------------------------------


def answer(session: Session, survey_id: int, score: Any, comment: Any, *, actor: Actor) -> Survey:
    """Record the answer and pay the bonus, once; Conflict when answered or expired."""
    errors = {}
    if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 10:
        errors["score"] = _l("Choose a score from 0 to 10.")
    comment = str(comment or "").strip() or None
    if comment is not None and len(comment) > MAX_COMMENT:
        errors["comment"] = _l("At most %(n)d characters.", n=MAX_COMMENT)
    if errors:
        raise InvalidInput(**errors)
    survey = session.scalar(
        select(Survey)
        .where(Survey.id == survey_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if survey is None:
        raise NotFound()
    if survey.answered_at is not None:
        raise Conflict(_l("This survey was already answered. Thank you!"))
    if survey.expires_at <= utcnow():
        raise Conflict(_l("This survey link has expired."))
    survey.score = score
    survey.comment = comment
    survey.answered_at = utcnow()
    if survey.bonus:
        member = lock_member(session, survey.member_id)
        entry = earn(
            session,
            member,
            points=survey.bonus,
            kind=KIND,
            actor=actor,
            location_id=survey.location_id,
            idempotency_key=system_key(KIND, survey.id),
        )
        survey.bonus_entry_id = entry.id
    session.flush()
    answered = {"member_id": survey.member_id, "id": survey.id, "survey_id": survey.id}
    answered |= {"score": score, "comment": comment, "bonus": survey.bonus or 0}
    announce(session, "happened", event="survey.answered", data=answered)
    if band(score) == "detractor" and settings(session)["mail_detractors"]:
        enqueue(session, alerts.mail_detractor, survey.tenant_id, survey.id)
    return survey


# --- figures ---------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    promoters: int
    passives: int
    detractors: int

    @property
    def answers(self) -> int:
        return self.promoters + self.passives + self.detractors

    @property
    def nps(self) -> int | None:
        return net_promoter_score(self.promoters, self.passives, self.detractors)


def _counts() -> list[Any]:
    return [func.count(case((band_condition(name), 1))) for name in BANDS]


def score_between(session: Session, start: datetime | None, end: datetime | None) -> Score:
    """The answers given in [start, end) (UTC), by band."""
    query = select(*_counts()).where(Survey.answered_at.is_not(None))
    if start is not None:
        query = query.where(Survey.answered_at >= start)
    if end is not None:
        query = query.where(Survey.answered_at < end)
    return Score(*session.execute(query).one())
