"""Novedades in the panel (managers): write, edit, switch off news items with an image."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import select
from wtforms import BooleanField, DateField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from core.sdk import MANAGERS, db, get_or_404, save_with_image, staff_required
from plugins.news.models import NewsItem
from plugins.news.news import create_news, update_news


class NewsForm(FlaskForm):
    title = StringField(
        _l("Title"), validators=[DataRequired(_l("The title is required.")), Length(max=160)]
    )
    body = TextAreaField(_l("Text"), validators=[Optional(), Length(max=4000)])
    starts_on = DateField(
        _l("From"), validators=[Optional()], description=_l("Empty: from now on.")
    )
    ends_on = DateField(
        _l("Until"), validators=[Optional()], description=_l("Empty: until you switch it off.")
    )
    active = BooleanField(_l("Active (customers see it between its dates)"), default=True)
    image = FileField(_l("Image"), description=_l("PNG, JPEG, GIF or WebP, up to 2 MB."))
    remove_image = BooleanField(_l("Remove the image"))


def make_blueprint() -> Blueprint:
    bp = Blueprint("news", __name__, url_prefix="/panel/news")
    bp.get("/")(index)
    bp.route("/new", methods=["GET", "POST"])(new)
    bp.route("/<int:item_id>", methods=["GET", "POST"])(edit)
    bp.post("/<int:item_id>/active")(toggle)
    return bp


@staff_required(*MANAGERS)
def index() -> Any:
    items = (
        db()
        .scalars(
            select(NewsItem).order_by(
                NewsItem.active.desc(), NewsItem.starts_on.desc().nulls_last(), NewsItem.id.desc()
            )
        )
        .all()
    )
    return render_template("news/index.html", items=items)


@staff_required(*MANAGERS)
def new() -> Any:
    form = NewsForm()
    if form.validate_on_submit():
        session = db()
        item = save_with_image(
            session,
            form,
            lambda image: create_news(session, **_values(form), **image),
            fallback="title",
        )
        if item is not None:
            flash(str(_l("News “%(title)s” published.", title=item.title)), "success")
            return redirect(url_for(".index"))
    return render_template("news/form.html", form=form, item=None)


@staff_required(*MANAGERS)
def edit(item_id: int) -> Any:
    session = db()
    item = get_or_404(session, NewsItem, item_id)
    form = NewsForm(obj=item)
    if form.validate_on_submit():
        saved = save_with_image(
            session,
            form,
            lambda image: update_news(session, item, **_values(form), **image),
            current=item.image,
            fallback="title",
        )
        if saved is not None:
            flash(str(_l("News “%(title)s” saved.", title=item.title)), "success")
            return redirect(url_for(".index"))
    return render_template("news/form.html", form=form, item=item)


@staff_required(*MANAGERS)
def toggle(item_id: int) -> Any:
    session = db()
    item = get_or_404(session, NewsItem, item_id)  # CSRF: checked app-wide for every POST
    update_news(session, item, active=not item.active)
    session.commit()
    message = (
        _l("News “%(title)s” activated.", title=item.title)
        if item.active
        else _l("News “%(title)s” deactivated.", title=item.title)
    )
    flash(str(message), "success")
    return redirect(url_for(".index"))


def _values(form: NewsForm) -> dict[str, Any]:
    return {
        "title": form.title.data,
        "body": form.body.data,
        "starts_on": form.starts_on.data,
        "ends_on": form.ends_on.data,
        "active": bool(form.active.data),
    }
