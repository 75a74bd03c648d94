"""Printing a sheet: what goes on it (a campaign's codes created between two local
dates, or copies of a page QR), and the job that draws it on the bulk queue.

A print is a row (`PrintJob`) the panel shows with its progress; the job draws the
PDF part by part (sheets.write_file), commits the count after each part, and
stores the file in the merchant's upload folder, under `coupons-sheets/`, whose
files are never served as uploads: only the panel's download route (the merchant's
staff, the merchant's own row) sends one. Running the job twice draws the file
once: a finished print is left as it is.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

from flask_babel import lazy_gettext as _l
from sqlalchemy import CheckConstraint, Date, Index, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.sdk import (
    Base,
    InvalidInput,
    NotFound,
    Tenant,
    TenantOwned,
    enqueue,
    local_day_range,
    tenant_fk,
    tenant_job,
    tenant_key,
    upload_folder,
    utcnow,
)
from plugins.coupons import codes as code_text
from plugins.coupons import sheets
from plugins.coupons.claims import claim_url
from plugins.coupons.models import Campaign, Code, Kind
from plugins.coupons.page_links import PageLink, short_url

FOLDER = "coupons-sheets"
MAX_ITEMS = 10_000  # QRs on one sheet: about 420 A4 pages of labels
MAX_COPIES = 1_000


class Status(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    READY = "ready"
    FAILED = "failed"


STATUS_LABELS = {
    Status.QUEUED: _l("Waiting"),
    Status.RUNNING: _l("Drawing"),
    Status.READY: _l("Ready"),
    Status.FAILED: _l("Failed"),
}


class PrintJob(TenantOwned, Base):
    __tablename__ = "coupons_print_jobs"
    __table_args__ = (
        tenant_key(),
        tenant_fk("campaign_id", "coupons_campaigns", ondelete="CASCADE"),
        tenant_fk("page_link_id", "coupons_page_links", ondelete="CASCADE"),
        CheckConstraint("(campaign_id IS NULL) <> (page_link_id IS NULL)", name="one_source"),
        Index("ix_coupons_print_jobs_created_at", "tenant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int | None]
    page_link_id: Mapped[int | None]
    layout: Mapped[str] = mapped_column(String(16))
    first_day: Mapped[date | None] = mapped_column(Date)  # codes created from (local)
    last_day: Mapped[date | None] = mapped_column(Date)  # … until (local, included)
    copies: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(8), default=Status.QUEUED)
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    file: Mapped[str | None] = mapped_column(String(80))
    staff_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


def _codes_query(tenant: Tenant, campaign: Campaign, first: date | None, last: date | None):
    start, end = local_day_range(tenant.timezone, first, last)
    query = select(Code).where(Code.campaign_id == campaign.id, Code.active)
    if campaign.kind == Kind.SINGLE:
        query = query.where(Code.claimed_by.is_(None))  # a used code is not printed again
    if start is not None:
        query = query.where(Code.created_at >= start)
    if end is not None:
        query = query.where(Code.created_at < end)
    return query


def coupon_items(
    session: Session,
    tenant: Tenant,
    campaign: Campaign,
    first: date | None,
    last: date | None,
    copies: int = 1,
) -> Iterator[sheets.Item]:
    """The campaign's printable codes (active, unused) created on the local days
    `first` to `last`, oldest first, each `copies` times; read in batches."""
    query = _codes_query(tenant, campaign, first, last).order_by(Code.id)
    for code in session.scalars(query.execution_options(yield_per=500)):
        item = sheets.Item(
            url=claim_url(tenant, code.code),
            code=code_text.printed(code.code),
            points=code.points or campaign.points,
            expires_on=code.expires_on or campaign.ends_on,
        )
        for _ in range(copies):
            yield item


def page_items(tenant: Tenant, link: PageLink, copies: int) -> Iterator[sheets.Item]:
    item = sheets.Item(url=short_url(tenant, link), title=link.name)
    for _ in range(copies):
        yield item


def count_items(session: Session, tenant: Tenant, job: PrintJob) -> int:
    if job.page_link_id is not None:
        return job.copies
    campaign = session.get(Campaign, job.campaign_id)
    query = _codes_query(tenant, campaign, job.first_day, job.last_day)
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0) * job.copies


def start_print(
    session: Session,
    tenant: Tenant,
    *,
    layout: str,
    campaign_id: int | None = None,
    page_link_id: int | None = None,
    first_day: date | None = None,
    last_day: date | None = None,
    copies: int = 1,
    staff_id: int | None = None,
) -> PrintJob:
    """Record a print of the session's merchant and queue its job after commit.
    NotFound for another merchant's campaign or page; InvalidInput names the field."""
    if layout not in sheets.LAYOUTS:
        raise InvalidInput(layout=_l("Choose one of the layouts."))
    if not isinstance(copies, int) or not 1 <= copies <= MAX_COPIES:
        raise InvalidInput(
            copies=_l("The copies must be a whole number from 1 to %(most)d.", most=MAX_COPIES)
        )
    if first_day and last_day and last_day < first_day:
        raise InvalidInput(last_day=_l("The last day cannot come before the first."))
    if (campaign_id is None) == (page_link_id is None):
        raise InvalidInput(source=_l("Choose a campaign or a page."))
    campaign = session.get(Campaign, campaign_id) if campaign_id is not None else None
    if campaign_id is not None and campaign is None:
        raise NotFound()
    if campaign is not None and not campaign.active:
        raise InvalidInput(source=_l("This campaign is deactivated: its codes cannot be claimed."))
    if page_link_id is not None and session.get(PageLink, page_link_id) is None:
        raise NotFound()
    job = PrintJob(
        campaign_id=campaign_id,
        page_link_id=page_link_id,
        layout=layout,
        first_day=first_day if campaign_id else None,
        last_day=last_day if campaign_id else None,
        copies=copies,
        staff_id=staff_id,
    )
    session.add(job)
    session.flush()
    job.total = count_items(session, tenant, job)
    if job.total == 0:
        raise InvalidInput(first_day=_l("No codes to print were created on those days."))
    if job.total > MAX_ITEMS:
        raise InvalidInput(
            first_day=_l(
                "At most %(most)d QR codes fit on one print; choose fewer days.", most=MAX_ITEMS
            )
        )
    enqueue(session, draw_sheet, tenant.id, job.id)
    return job


def file_path(tenant: Tenant, job: PrintJob) -> Path | None:
    """The finished PDF of `job`, if there is one."""
    if job.status != Status.READY or not job.file:
        return None
    path = upload_folder(tenant.id) / FOLDER / job.file
    return path if path.is_file() else None


@tenant_job(queue="bulk", plugin="coupons")
def draw_sheet(session: Session, tenant: Tenant, job_id: int) -> None:
    job = session.get(PrintJob, job_id)
    if job is None or job.status == Status.READY:
        return  # gone, or drawn by an earlier run
    layout = sheets.LAYOUTS[job.layout]
    job.status, job.done = Status.RUNNING, 0
    job.total = count_items(session, tenant, job)
    session.commit()
    if job.page_link_id is not None:
        items = page_items(tenant, session.get(PageLink, job.page_link_id), job.copies)
    else:
        campaign = session.get(Campaign, job.campaign_id)
        items = coupon_items(session, tenant, campaign, job.first_day, job.last_day, job.copies)
    folder = upload_folder(tenant.id) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{job.id}-{secrets.token_hex(12)}.pdf"

    def progress(done: int, total: int) -> None:
        job.done = done
        session.commit()

    try:
        # The items are read to a list first: committing the progress would end the
        # batched read of the codes otherwise.
        items = list(items)
        sheets.write_file(tenant, layout, items, folder / name, total=len(items), progress=progress)
    except Exception:
        session.rollback()
        job.status = Status.FAILED
        session.commit()
        raise
    job.status, job.file, job.finished_at = Status.READY, name, utcnow()
    job.total = job.done
