"""Configuración → Dominio: the merchant's own domain, the DNS records to create, and
"verify now". Only on plans that include an own domain (`tenants.domains.allowed`);
the rules are `tenants.domains`'."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField

from core.host.errors import PremiaError
from core.panel.access import MANAGERS, staff_required
from core.panel.formkit import show_errors
from core.web.request import db
from tenants import domains


class DomainForm(FlaskForm):
    domain = StringField(
        _l("Your domain"),
        description=_l("A subdomain of your website's domain, e.g. puntos.cafelaesquina.co."),
    )


def make_blueprint() -> Blueprint:
    bp = Blueprint("panel_domain", __name__, url_prefix="/panel/settings/domain")
    bp.before_request(_plan_includes_a_domain)
    bp.route("/", methods=["GET", "POST"])(index)
    bp.post("/verify")(verify)
    bp.post("/remove")(remove)
    return bp


def _plan_includes_a_domain() -> None:
    if not domains.allowed(g.tenant):
        abort(404)


@staff_required(*MANAGERS)
def index() -> Any:
    session = db()
    domain = domains.current(session)
    form = DomainForm(data={"domain": domain.name if domain else g.tenant.domain or ""})
    if form.validate_on_submit():
        try:
            domains.set_domain(session, g.tenant, form.domain.data or "")
            session.commit()
        except PremiaError as error:
            session.rollback()
            show_errors(form, error, fallback="domain")
        else:
            flash(str(_l("Domain saved. Create the DNS records below, then verify it.")), "success")
            return redirect(url_for(".index"))
        domain = domains.current(session)
    return _render(form, domain)


@staff_required(*MANAGERS)
def verify() -> Any:
    session = db()
    domain = domains.current(session)
    if domain is None:
        abort(404)
    check = domains.verify(session, g.tenant, domain)
    session.commit()
    if check.ok:
        flash(str(_l("The domain is verified: your customers can use it now.")), "success")
    else:
        for message in check.messages:
            flash(message, "error")
    return redirect(url_for(".index"))


@staff_required(*MANAGERS)
def remove() -> Any:
    session = db()
    domains.remove_domain(session, g.tenant)
    session.commit()
    flash(str(_l("The domain was removed; it is no longer served.")), "success")
    return redirect(url_for(".index"))


def _render(form: DomainForm, domain: Any) -> Any:
    tenant = g.tenant
    return render_template(
        "panel/settings/domain.html",
        form=form,
        domain=domain,
        served=tenant.domain,
        # A domain the operator set by hand, not (or not yet) the one entered here.
        operator_domain=tenant.domain if tenant.domain and not domain else None,
        records=domains.records(domain) if domain else [],
        problems=[
            domains.PROBLEMS[code]
            for code in ((domain.problem or "").split(",") if domain else [])
            if code in domains.PROBLEMS
        ],
        grace_ends=domains.grace_ends(domain) if domain else None,
    )
