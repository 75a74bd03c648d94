"""Recompensas: the rewards catalogue (name, image, points, stock, active), for managers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import select
from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from core.loyalty.program import MAX_POINTS_PER_OPERATION
from core.loyalty.rewards import Reward, create_reward, update_reward
from core.panel import menu
from core.panel.access import MANAGERS, staff_required
from core.panel.formkit import WholeNumberField, get_or_404, save_with_image
from core.web.request import db

menu.register(menu.MenuItem("t.panel_rewards.index", _l("Rewards"), roles=MANAGERS, order=50))


class RewardForm(FlaskForm):
    name = StringField(
        _l("Name"), validators=[DataRequired(_l("The name is required.")), Length(max=160)]
    )
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=2000)])
    points = WholeNumberField(
        _l("Points needed"),
        validators=[
            DataRequired(_l("The points must be a whole number greater than zero.")),
            NumberRange(
                min=1,
                max=MAX_POINTS_PER_OPERATION,
                message=_l("The points must be a whole number greater than zero."),
            ),
        ],
    )
    stock = WholeNumberField(
        _l("Stock"),
        description=_l("Empty: unlimited."),
        validators=[
            Optional(),
            NumberRange(min=0, message=_l("The stock must be zero or more (empty for unlimited).")),
        ],
    )
    active = BooleanField(_l("Active (customers see it)"), default=True)
    image = FileField(_l("Image"), description=_l("PNG, JPEG, GIF or WebP, up to 2 MB."))
    remove_image = BooleanField(_l("Remove the image"))


def make_blueprint() -> Blueprint:
    bp = Blueprint("panel_rewards", __name__, url_prefix="/panel/rewards")
    bp.get("/")(index)
    bp.route("/new", methods=["GET", "POST"])(new)
    bp.route("/<int:reward_id>", methods=["GET", "POST"])(edit)
    bp.post("/<int:reward_id>/active")(toggle)
    return bp


@staff_required(*MANAGERS)
def index() -> Any:
    rewards = (
        db().scalars(select(Reward).order_by(Reward.active.desc(), Reward.points, Reward.id)).all()
    )
    return render_template("panel/rewards/index.html", rewards=rewards)


@staff_required(*MANAGERS)
def new() -> Any:
    form = RewardForm()
    if form.validate_on_submit():
        session = db()
        reward = save_with_image(
            session,
            form,
            lambda image: create_reward(session, **_values(form), **image),
            fallback="name",
        )
        if reward is not None:
            flash(str(_l("Reward “%(name)s” created.", name=reward.name)), "success")
            return redirect(url_for(".index"))
    return render_template("panel/rewards/form.html", form=form, reward=None)


@staff_required(*MANAGERS)
def edit(reward_id: int) -> Any:
    session = db()
    reward = get_or_404(session, Reward, reward_id)
    form = RewardForm(obj=reward)
    if form.validate_on_submit():
        saved = save_with_image(
            session,
            form,
            lambda image: update_reward(session, reward, **_values(form), **image),
            current=reward.image,
            fallback="name",
        )
        if saved is not None:
            flash(str(_l("Reward “%(name)s” saved.", name=reward.name)), "success")
            return redirect(url_for(".index"))
    return render_template("panel/rewards/form.html", form=form, reward=reward)


@staff_required(*MANAGERS)
def toggle(reward_id: int) -> Any:
    session = db()
    reward = get_or_404(session, Reward, reward_id)  # CSRF: checked app-wide for every POST
    update_reward(session, reward, active=not reward.active)
    session.commit()
    message = (
        _l("Reward “%(name)s” activated.", name=reward.name)
        if reward.active
        else _l("Reward “%(name)s” deactivated.", name=reward.name)
    )
    flash(str(message), "success")
    return redirect(url_for(".index"))


def _values(form: RewardForm) -> dict[str, Any]:
    return {
        "name": form.name.data,
        "description": (form.description.data or "").strip() or None,
        "points": form.points.data,
        "stock": form.stock.data,
        "active": bool(form.active.data),
    }
