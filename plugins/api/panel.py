"""The merchant's API page in the panel (Configuración → API): tokens, created and revoked.

Owners and admins only. A new token's secret is shown once, right after it is
created; afterwards only its first characters are.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, StringField, widgets
from wtforms.validators import DataRequired, Length

from core.sdk import PremiaError, Role, db
from plugins.api import tokens


class TokenForm(FlaskForm):
    name = StringField(
        _l("Name"), validators=[DataRequired(_l("Give the token a name.")), Length(max=120)]
    )
    scopes = SelectMultipleField(
        _l("Permissions"),
        choices=[(name, label) for name, label in tokens.SCOPES.items()],
        default=list(tokens.DEFAULT_SCOPES),
        widget=widgets.ListWidget(prefix_label=False),
        option_widget=widgets.CheckboxInput(),
    )


def make_blueprint() -> Blueprint:
    bp = Blueprint("api_panel", __name__, url_prefix="/panel/api")

    @bp.before_request
    @login_required
    def managers_only() -> None:
        if current_user.role not in (Role.OWNER, Role.ADMIN):
            abort(403)

    @bp.route("/", methods=["GET", "POST"])
    def tokens_page() -> Any:
        form = TokenForm()
        secret = None
        if form.validate_on_submit():
            try:
                _token, secret = tokens.create_token(
                    db(),
                    name=form.name.data,
                    scopes=form.scopes.data or None,
                    created_by=current_user.user.email,
                )
                db().commit()
                form = TokenForm(formdata=None)
            except PremiaError as error:
                db().rollback()
                for field, message in error.fields.items():
                    getattr(form, field, form.name).errors.append(str(message))
        return render_template(
            "api/tokens.html",
            form=form,
            secret=secret,
            tokens=tokens.list_tokens(db()),
            scopes=tokens.SCOPES,
            docs_url="/api/v1/docs",
        )

    @bp.post("/<int:token_id>/revoke")
    def revoke(token_id: int) -> Any:
        if not 0 < token_id < 2**31:
            abort(404)
        try:
            token = tokens.revoke_token(db(), token_id)
        except PremiaError:
            abort(404)
        db().commit()
        flash(str(_l("Token “%(name)s” revoked.", name=token.name)), "success")
        return redirect(url_for(".tokens_page"))

    return bp
