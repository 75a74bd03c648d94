"""A CSV of the merchant's own codes (white-label): received in the panel, created by
a job on the bulk queue, and the same file e-mailed back to the uploader with a
status column per row (created, duplicate, invalid: why), in the merchant's language.

The file is read by the front door's CSV reader (the dialects Excel writes: `;` or
`,`, UTF-8 with or without BOM, Windows-1252). Each upload has a token stored on the
codes it creates, so a job run twice reports its own codes as created and writes
nothing twice; the same file uploaded again finds every code there: duplicate.
"""

from __future__ import annotations

import secrets
from datetime import date
from pathlib import Path
from typing import Any

from babel.numbers import format_decimal
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.sdk import (
    MAX_POINTS_PER_OPERATION,
    InvalidInput,
    StaffUser,
    Tenant,
    build_message,
    csv_lines,
    enqueue,
    match_columns,
    money_locale,
    open_csv,
    parse_day,
    parse_number,
    plan_limit,
    render_mail,
    send_mail,
    tenant_job,
)
from plugins.coupons import codes
from plugins.coupons.claims import room_this_month
from plugins.coupons.models import Campaign, Code, Kind

LIMIT = "coupons.csv_upload"  # rows per file the plan allows (0: no upload)
COLUMNS = {
    "code": ("code", "codigo", "cupon", "coupon", "codigo_qr", "cupom"),
    "points": ("points", "puntos", "pontos"),
    "expires_on": (
        "expiry",
        "expires",
        "expires_on",
        "valid_until",
        "vence",
        "vencimiento",
        "fecha_de_vencimiento",
        "validez",
        "valido_hasta",
        "validade",
        "vencimento",
    ),
}


def _folder() -> Path:
    folder = Path(current_app.instance_path) / "coupon-uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def accept(session: Session, tenant: Tenant, campaign: Campaign, storage: Any, staff: Any) -> int:
    """Keep the uploaded file and queue its processing when the caller commits; the
    number of data rows.
    InvalidInput (for the field "file") when it is missing, unreadable, has no code
    column or more rows than the plan allows."""
    if campaign.kind != Kind.SINGLE:
        raise InvalidInput(file=_l("Codes are uploaded to a campaign of single-use codes."))
    if storage is None or not getattr(storage, "filename", ""):
        raise InvalidInput(file=_l("Choose a CSV file."))
    token = secrets.token_hex(16)
    path = _folder() / f"{tenant.id}-{token}.csv"
    storage.save(path)
    try:
        table = open_csv(path)
        if "code" not in match_columns(table.header, COLUMNS):
            raise InvalidInput(file=_l("The file has no column named “code”."))
        rows = table.count()
        limit = plan_limit(tenant, LIMIT)
        if limit is not None and rows > limit:
            raise InvalidInput(
                file=_l("Your plan allows up to %(most)d codes per file.", most=limit)
            )
    except InvalidInput:  # UnreadableFile too
        path.unlink(missing_ok=True)
        raise
    # Queued once the request's transaction ends (in-process on SQLite: after its lock).
    enqueue(session, process, tenant.id, campaign.id, path.name, token, staff.id)
    return rows


def _whole_points(text: str, locale: str) -> int | None:
    value = parse_number(text, locale)
    if value != value.to_integral_value() or not 0 < value <= MAX_POINTS_PER_OPERATION:
        raise ValueError(text)
    return int(value)


def _row(
    cells: list[str], columns: dict[str, int], locale: str
) -> tuple[str, int | None, date | None]:
    """(code, points, expiry) of a row; InvalidInput with the reason otherwise."""
    text = codes.normalized(cells[columns["code"]])
    if not text:
        raise InvalidInput(_l("no code"))
    if not codes.valid(text):
        raise InvalidInput(_l("a code has 4 to 24 letters and digits"))
    points = expires = None
    raw_points = cells[columns["points"]].strip() if "points" in columns else ""
    if raw_points:
        try:
            points = _whole_points(raw_points, locale)
        except (ValueError, ArithmeticError):
            raise InvalidInput(
                _l(
                    "the points must be a whole number from 1 to %(most)s",
                    most=format_decimal(MAX_POINTS_PER_OPERATION, locale=locale),
                )
            ) from None
    raw_expiry = cells[columns["expires_on"]].strip() if "expires_on" in columns else ""
    if raw_expiry:
        try:
            expires = parse_day(raw_expiry, locale)
        except ValueError:
            raise InvalidInput(_l("the expiry is not a date")) from None
    return text, points, expires


@tenant_job(queue="bulk", plugin="coupons")
def process(
    session: Session, tenant: Tenant, campaign_id: int, name: str, token: str, staff_id: int
) -> dict[str, int]:
    """Create the file's codes in the campaign and e-mail the file back with each row's status."""
    path = _folder() / name
    campaign = session.get(Campaign, campaign_id)
    staff = session.get(StaffUser, staff_id)
    if campaign is None or staff is None or not path.exists():
        return {}
    table = open_csv(path)
    columns = match_columns(table.header, COLUMNS)
    room = room_this_month(session, tenant)
    seen: set[str] = set()
    results: list[tuple[list[str], str]] = []
    counts = {"created": 0, "duplicate": 0, "invalid": 0}
    with force_locale(tenant.language):
        locale = money_locale()  # the merchant's number and date formats
        for _number, cells in table.rows():
            try:
                text, points, expires = _row(cells, columns, locale)
            except InvalidInput as error:
                results.append((cells, _("invalid: %(why)s", why=error.message)))
                counts["invalid"] += 1
                continue
            existing = session.scalar(select(Code).where(Code.code == text))
            if text in seen or (existing is not None and existing.upload != token):
                results.append((cells, _("duplicate")))
                counts["duplicate"] += 1
            elif existing is not None:  # this very file, run before: already created
                results.append((cells, _("created")))
                counts["created"] += 1
            elif room is not None and room <= 0:
                results.append(
                    (cells, _("invalid: %(why)s", why=_("the plan's monthly limit is reached")))
                )
                counts["invalid"] += 1
            else:
                session.add(
                    Code(
                        campaign_id=campaign.id,
                        code=text,
                        points=points,
                        expires_on=expires,
                        upload=token,
                    )
                )
                session.flush()
                room = None if room is None else room - 1
                results.append((cells, _("created")))
                counts["created"] += 1
            seen.add(text)
        header = [*table.header, _("Status")]
    session.commit()  # the codes stand before the mail tells they do
    _mail(tenant, staff, campaign, header, results, table.delimiter, counts)
    path.unlink(missing_ok=True)
    return counts


def _mail(
    tenant: Tenant,
    staff: StaffUser,
    campaign: Campaign,
    header: list[str],
    results: list[tuple[list[str], str]],
    delimiter: str,
    counts: dict[str, int],
) -> None:
    subject, text, html = render_mail(
        tenant, "coupons/mail/upload", tenant.language, campaign=campaign, counts=counts
    )
    message = build_message(tenant, staff.email, subject, text, html)
    body = "".join(
        csv_lines(header, ([*cells, status] for cells, status in results), delimiter=delimiter)
    )
    message.add_attachment(
        body.encode("utf-8"),
        maintype="text",
        subtype="csv",
        filename=f"coupons-{campaign.id}-result.csv",
    )
    send_mail(message)
