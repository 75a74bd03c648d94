"""Locales: the merchant's stores with address and city, for managers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length

from core.host.errors import PremiaError
from core.loyalty.locations import Location, create_location, update_location
from core.panel import menu
from core.panel.access import MANAGERS, staff_required
from core.panel.formkit import get_or_404, show_errors
from core.web.request import db

menu.register(menu.MenuItem("t.panel_locations.index", _l("Locations"), roles=MANAGERS, order=80))


class LocationForm(FlaskForm):
    name = StringField(
        _l("Name"), validators=[DataRequired(_l("The name is required.")), Length(max=160)]
    )
    address = StringField(_l("Address"), validators=[Length(max=300)])
    city = StringField(_l("City"), validators=[Length(max=120)])
    active = BooleanField(_l("Active"), default=True)


def make_blueprint() -> Blueprint:
    bp = Blueprint("panel_locations", __name__, url_prefix="/panel/locations")
    bp.get("/")(index)
    bp.route("/new", methods=["GET", "POST"])(new)
    bp.route("/<int:location_id>", methods=["GET", "POST"])(edit)
    bp.post("/<int:location_id>/active")(toggle)
    return bp


@staff_required(*MANAGERS)
def index() -> Any:
    locations = (
        db()
        .scalars(select(Location).order_by(Location.active.desc(), Location.name, Location.id))
        .all()
    )
    return render_template("panel/locations/index.html", locations=locations)


@staff_required(*MANAGERS)
def new() -> Any:
    form = LocationForm()
    if form.validate_on_submit():
        session = db()
        try:
            location = create_location(
                session, name=form.name.data, address=form.address.data, city=form.city.data
            )
            session.commit()
        except PremiaError as error:
            session.rollback()
            show_errors(form, error, fallback="name")
        else:
            flash(str(_l("Location “%(name)s” created.", name=location.name)), "success")
            return redirect(url_for(".index"))
    return render_template("panel/locations/form.html", form=form, location=None)


@staff_required(*MANAGERS)
def edit(location_id: int) -> Any:
    session = db()
    location = get_or_404(session, Location, location_id)
    form = LocationForm(obj=location)
    if form.validate_on_submit():
        try:
            update_location(
                session,
                location,
                name=form.name.data,
                address=form.address.data,
                city=form.city.data,
                active=bool(form.active.data),
            )
            session.commit()
        except PremiaError as error:
            session.rollback()
            show_errors(form, error, fallback="name")
        else:
            flash(str(_l("Location “%(name)s” saved.", name=location.name)), "success")
            return redirect(url_for(".index"))
    return render_template("panel/locations/form.html", form=form, location=location)


@staff_required(*MANAGERS)
def toggle(location_id: int) -> Any:
    session = db()
    location = get_or_404(session, Location, location_id)
    update_location(session, location, active=not location.active)
    session.commit()
    message = (
        _l("Location “%(name)s” activated.", name=location.name)
        if location.active
        else _l("Location “%(name)s” deactivated.", name=location.name)
    )
    flash(str(message), "success")
    return redirect(url_for(".index"))
