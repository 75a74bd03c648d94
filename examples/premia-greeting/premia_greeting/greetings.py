"""Greeting a member: once, however often the job runs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.sdk import Membership, tenant_job
from premia_greeting.models import Greeting


def greeted(session: Session) -> list[tuple[Membership, Greeting]]:
    """The tenant's greeted members, the latest first."""
    rows = session.execute(
        select(Membership, Greeting)
        .join(Greeting, Greeting.member_id == Membership.id)
        .order_by(Greeting.id.desc())
    )
    return [(member, greeting) for member, greeting in rows]


@tenant_job(queue="default", plugin="greeting")
def greet(session: Session, tenant: Any, member_id: int) -> None:
    if session.scalar(select(Greeting.id).where(Greeting.member_id == member_id)) is None:
        session.add(Greeting(member_id=member_id))
