"""Shared steps of the survey tests: settings, a visit that mails a survey, its link."""

from __future__ import annotations

import re
from email.message import Message

from sqlalchemy import select

from core.host.actors import Actor
from core.host.settings import save_settings
from core.loyalty import ledger
from core.loyalty.locations import create_location
from core.loyalty.staff import Role, StaffUser
from plugins.nps.models import Survey
from plugins.nps.settings import NpsSettings

LINK = re.compile(r"https?://[^\s\"<>]+/surveys/[A-Za-z0-9_.\-]+")


def configure(db, tenant, **changes) -> None:
    with db(tenant) as session:
        save_settings(session, "nps", NpsSettings(), changes)
        session.commit()


def owner_and_location(db, tenant) -> tuple[int, int]:
    with db(tenant) as session:
        owner = session.scalar(select(StaffUser.id).where(StaffUser.role == Role.OWNER))
        location = create_location(session, name="Centro")
        session.commit()
        return owner, location.id


def visit(db, tenant, member, points: int = 50, *, staff_id=None, location_id=None):
    """Points earned at the till (kind earn): the e-mail of points received follows."""
    actor = Actor.staff(staff_id) if staff_id else Actor.system()
    with db(tenant) as session:
        locked = ledger.lock_member(session, member.id)
        entry = ledger.earn(session, locked, points=points, actor=actor, location_id=location_id)
        session.commit()
        return entry


def text_of(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
    raise AssertionError("no text part")


def survey_links(message: Message) -> list[str]:
    return LINK.findall(text_of(message))


def mails_to(smtp_server, address: str, count: int) -> list[Message]:
    """The first `count` messages to `address` (waiting for them to arrive)."""
    for _ in range(50):
        found = [m for m in smtp_server.handler.messages if address in m["To"]]
        if len(found) >= count:
            return found
        smtp_server.handler.wait_for(len(smtp_server.handler.messages) + 1, timeout=0.1)
    raise AssertionError(f"fewer than {count} e-mails to {address}")


def surveys(db, tenant) -> list[Survey]:
    with db(tenant) as session:
        return list(session.scalars(select(Survey).order_by(Survey.id)))


def path_of(link: str) -> str:
    """A mailed link's path on the test client's host (`/t/<slug>/surveys/…`)."""
    return "/" + link.split("://", 1)[1].split("/", 1)[1]


def speak(app, member, language: str) -> None:
    """Set the person's own language (their customer app profile's)."""
    from core.host.db import platform_session
    from core.loyalty.members import Customer

    with platform_session(app.extensions["premia"].sessions) as session:
        session.get(Customer, member.customer_id).language = language
        session.commit()
