"""Page QRs: a QR that opens a page of the merchant's (a digital menu, a promotion).

The QR carries Premia's short link, `/q/<token>` on the merchant's app (the brand's
own domain for a white-label merchant), which redirects to the address the merchant
saved and counts the scan on the merchant's local day. It is never an open redirect:
the target is read from the merchant's own row, never from the request, and only an
http or https address with a host is ever saved (and checked again before
redirecting). The token is random, so links cannot be walked.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, g, redirect
from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, Index, String, UniqueConstraint, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.sdk import (
    Base,
    InvalidInput,
    NotFound,
    Tenant,
    TenantOwned,
    db,
    external_url,
    tenant_fk,
    tenant_key,
    utcnow,
)

OPEN_ENDPOINT = "t.coupons_pages.open"
TOKEN_BYTES = 9  # 12 URL-safe characters, 72 bits: not guessable, short in a QR
MAX_URL = 2000
SCAN_DAYS = 14  # the days of scans the panel shows


class PageLink(TenantOwned, Base):
    __tablename__ = "coupons_page_links"
    __table_args__ = (tenant_key(), UniqueConstraint("tenant_id", "token"))

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    target_url: Mapped[str] = mapped_column(String(MAX_URL))
    token: Mapped[str] = mapped_column(String(24))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PageScan(TenantOwned, Base):
    """Scans of a page QR on one local day of the merchant."""

    __tablename__ = "coupons_page_scans"
    __table_args__ = (
        tenant_key(),
        tenant_fk("page_link_id", "coupons_page_links", ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "page_link_id", "day"),
        Index("ix_coupons_page_scans_page_link_id_day", "page_link_id", "day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    page_link_id: Mapped[int]
    day: Mapped[date] = mapped_column(Date)
    scans: Mapped[int] = mapped_column(default=0)


def checked_url(text: str) -> str:
    """`text` as a target: an absolute http or https address with a host, or InvalidInput."""
    url = (text or "").strip()
    parts = urlsplit(url) if len(url) <= MAX_URL else None
    if (
        parts is None
        or parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or any(ch.isspace() or ord(ch) < 32 for ch in url)
    ):
        raise InvalidInput(
            target_url=_l(
                "Give a web address starting with http:// or https://, such as https://example.com/menu."
            )
        )
    return url


def create_page_link(session: Session, name: str, target_url: str) -> PageLink:
    """A new page QR of the session's merchant; InvalidInput names the wrong field."""
    errors: dict[str, Any] = {}
    name = (name or "").strip()
    if not name or len(name) > 80:
        errors["name"] = _l("Give the page a name of 1 to 80 characters.")
    try:
        url = checked_url(target_url)
    except InvalidInput as error:
        errors.update(error.fields)
    if errors:
        raise InvalidInput(**errors)
    link = PageLink(name=name, target_url=url, token=secrets.token_urlsafe(TOKEN_BYTES))
    session.add(link)
    session.flush()
    return link


def short_url(tenant: Tenant, link: PageLink) -> str:
    """What the QR carries: the short link on the merchant's app, from the configuration."""
    return external_url(OPEN_ENDPOINT, tenant, token=link.token)


def local_day(tenant: Tenant, now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(ZoneInfo(tenant.timezone)).date()


def count_scan(session: Session, tenant: Tenant, link: PageLink) -> None:
    """Add one scan to today's count (local day): one UPDATE, or the day's first row;
    two first scans at once meet on the unique key and the loser adds to the winner's."""
    day = local_day(tenant)
    raise_count = (
        update(PageScan)
        .where(PageScan.page_link_id == link.id, PageScan.day == day)
        .values(scans=PageScan.scans + 1)
    )
    if session.execute(raise_count).rowcount:
        return
    try:
        with session.begin_nested():
            session.add(PageScan(page_link_id=link.id, day=day, scans=1))
    except IntegrityError:
        session.execute(raise_count)


def scans_by_day(session: Session, tenant: Tenant, days: int = SCAN_DAYS) -> dict[int, dict]:
    """Per page link: its scans on each of the last `days` local days, and in all."""
    since = local_day(tenant) - timedelta(days=days - 1)
    result: dict[int, dict] = {}
    for link_id, day, scans in session.execute(
        select(PageScan.page_link_id, PageScan.day, PageScan.scans).where(PageScan.day >= since)
    ):
        result.setdefault(link_id, {})[day] = scans
    totals = dict(
        session.execute(
            select(PageScan.page_link_id, func.sum(PageScan.scans)).group_by(PageScan.page_link_id)
        ).all()
    )
    return {
        link_id: {"days": result.get(link_id, {}), "total": int(total or 0)}
        for link_id, total in totals.items()
    }


@dataclass(frozen=True)
class Day:
    day: date
    scans: int


def last_days(tenant: Tenant, counts: dict[date, int], days: int = SCAN_DAYS) -> list[Day]:
    today = local_day(tenant)
    return [
        Day(today - timedelta(days=n), counts.get(today - timedelta(days=n), 0))
        for n in range(days)
    ]


def open_link(session: Session, tenant: Tenant, token: str) -> str:
    """The target of `token` at the session's merchant, its scan counted; NotFound for
    an unknown, another merchant's or a switched-off link."""
    link = session.scalar(select(PageLink).where(PageLink.token == token, PageLink.active))
    if link is None:
        raise NotFound()
    target = checked_url(link.target_url)  # saved checked; checked again all the same
    count_scan(session, tenant, link)
    return target


def make_blueprint() -> Blueprint:
    bp = Blueprint("coupons_pages", __name__, url_prefix="/q")

    @bp.get("/<token>")
    def open(token: str) -> Any:
        if len(token) > 24:
            abort(404)
        session = db()
        try:
            target = open_link(session, g.tenant, token)
        except (NotFound, InvalidInput):
            abort(404)
        session.commit()
        response = redirect(target, code=302)
        response.headers["Cache-Control"] = "no-store"  # every scan reaches us, and counts
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    return bp
