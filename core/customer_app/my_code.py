"""The shared app's "my code": the person's personal code, in large type and as a QR,
to show at the till of a merchant where they are no member yet (see
core.loyalty.joining): the cashier scans it and enrols them with the first points."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from markupsafe import Markup

from core.customer_app.sessions import current_customer, customer_required
from core.host.db import platform_session
from core.host.errors import Forbidden
from core.host.platform import current_platform
from core.loyalty import joining
from core.loyalty.members import Customer
from core.web.cards import qr_code

bp = Blueprint("app_code", __name__, url_prefix="/app")


@bp.get("/code")
@customer_required
def show() -> Any:
    with platform_session(current_platform().sessions) as session:
        customer = session.get(Customer, current_customer().id)
        try:
            code = joining.personal_code(session, customer)
        except Forbidden as error:  # an account not confirmed yet: no code to show
            return render_template("app/my_code.html", code=None, refusal=error.message)
        session.commit()
    # segno's SVG, from our own code alone: nothing from the request goes into it.
    qr = Markup(qr_code(code).svg_inline(scale=8, border=4, omitsize=True))
    return render_template("app/my_code.html", code=joining.spaced(code), qr=qr)
