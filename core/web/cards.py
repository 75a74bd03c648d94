"""A printable customer card (PDF) with the member's QR code, for customers
without a phone: the merchant prints it, cuts it out and hands it over.

The QR code holds the bare member code (what the employee's scanner reads). It
is embedded as a one-pixel-per-module PNG scaled up without smoothing, so it
prints sharp at any size. WeasyPrint fetches nothing but data: URIs: the card
is rendered from our own template and the merchant's data, never from the web.
"""

from __future__ import annotations

import segno
from flask import render_template

from core.loyalty.members import Membership
from tenants.models import Tenant

TEMPLATE = "panel/customers/card.html"


def qr_code(code: str) -> segno.QRCode:
    """The QR code of a member code (error correction M: a worn card still scans)."""
    return segno.make_qr(code, error="m", boost_error=False)


def qr_png_data_uri(code: str) -> str:
    return qr_code(code).png_data_uri(scale=1, border=4)


def card_pdf(tenant: Tenant, member: Membership) -> bytes:
    """The card as a PDF document, themed with the tenant's name and colours
    (render inside a request or app context with `g.tenant` set)."""
    import weasyprint  # slow to import: only when a card is printed
    from weasyprint.urls import URLFetcher

    html = render_template(
        TEMPLATE,
        tenant=tenant,
        member=member,
        customer=member.customer,
        qr=qr_png_data_uri(member.code),
    )
    fetcher = URLFetcher(allowed_protocols={"data"})
    return weasyprint.HTML(string=html, url_fetcher=fetcher).write_pdf()
