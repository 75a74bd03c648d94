"""The person's profile in the customer app: names, phone, birthday, language and the
e-mails they want, on the shared app and on each merchant's pages alike.

The person is the source of their own data, and a merchant keeps its own record:

* the profile edits the account (one per person), wherever it is opened;
* a name, phone or birthday the person *changes* (the submitted value differs from
  the account's) is written to every membership of theirs, at every merchant;
* a field the person leaves as it was is not written anywhere, so what a merchant
  recorded or edited in that field stays that merchant's until the person changes
  that same field again (then the person's new value wins, at every merchant);
* language and e-mail preferences are the account's alone (no merchant records them).

The birthday plugin reads `Membership.birthday`: a birthday entered here reaches it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Blueprint, flash, redirect, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import refresh
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session
from wtforms import BooleanField, DateField, SelectField, StringField
from wtforms.validators import Length, Optional, Regexp, ValidationError

from core.customer_app import install, menu
from core.customer_app.faces import app_url
from core.customer_app.sessions import current_customer, customer_required
from core.host.contributions import MenuItem
from core.host.db import platform_session
from core.host.errors import NotFound
from core.host.platform import current_platform
from core.loyalty.customers import update_search_text
from core.loyalty.members import MAIL_TOPICS, Customer, Membership, wants_push
from core.web.i18n import LANGUAGE_NAMES, LANGUAGES
from core.web.request import db

bp = Blueprint("app_profile", __name__, url_prefix="/app")

# The fields a person shares with the merchants' records (see the module's rules).
SHARED_FIELDS = ("first_name", "last_name", "phone", "birthday")
OLDEST_BIRTHDAY = date(1900, 1, 1)

menu.register(MenuItem("t.app_profile.edit", _l("My profile"), order=90))


@dataclass(frozen=True)
class Profile:
    """What the person says about themselves."""

    first_name: str = ""
    last_name: str = ""
    phone: str | None = None
    birthday: date | None = None
    language: str | None = None
    unwanted_mail: frozenset[str] = frozenset()  # topics of MAIL_TOPICS not wanted
    unwanted_push: frozenset[str] = frozenset()  # the same topics, as push notifications


def update_profile(session: Session, customer_id: int, profile: Profile) -> set[str]:
    """Save `profile` on the account and write the shared fields the person changed to
    each of their memberships; returns those fields. `session` is a platform session
    (the memberships are the person's at every merchant). Commit after."""
    customer = session.scalar(
        select(Customer)
        .where(Customer.id == customer_id, Customer.deleted_at.is_(None))
        .with_for_update()
    )
    if customer is None:
        raise NotFound()
    changed = {name for name in SHARED_FIELDS if getattr(customer, name) != getattr(profile, name)}
    for name in SHARED_FIELDS:
        setattr(customer, name, getattr(profile, name))
    customer.language = profile.language if profile.language in LANGUAGES else None
    customer.mail_preferences = {
        **{topic: False for topic in MAIL_TOPICS if topic in profile.unwanted_mail},
        **{f"push:{topic}": False for topic in MAIL_TOPICS if topic in profile.unwanted_push},
    }
    if changed:
        members = session.scalars(select(Membership).where(Membership.customer_id == customer.id))
        for member in members:
            for name in changed:
                setattr(member, name, getattr(profile, name))
            update_search_text(member)
    return changed


def _not_in_the_future(_form: FlaskForm, field: DateField) -> None:
    if field.data and field.data > date.today():
        raise ValidationError(_l("The birthday cannot be in the future."))
    if field.data and field.data < OLDEST_BIRTHDAY:
        raise ValidationError(_l("Check the year of your birthday."))


class ProfileForm(FlaskForm):
    first_name = StringField(_l("First name"), validators=[Length(max=120)])
    last_name = StringField(_l("Last name"), validators=[Length(max=120)])
    phone = StringField(
        _l("Phone"),
        validators=[
            Optional(),
            Length(max=40, message=_l("The phone number is too long.")),
            Regexp(r"^\+?[0-9 ()./-]{6,}$", message=_l("Write the phone number with digits.")),
        ],
    )
    birthday = DateField(
        _l("Birthday"),
        validators=[Optional(), _not_in_the_future],
    )
    language = SelectField(_l("Language"), choices=[], validate_choice=True)
    mail_points = BooleanField(MAIL_TOPICS["points"])
    mail_redemptions = BooleanField(MAIL_TOPICS["redemptions"])
    mail_expiry = BooleanField(MAIL_TOPICS["expiry"])
    mail_news = BooleanField(MAIL_TOPICS["news"])
    push_points = BooleanField(MAIL_TOPICS["points"])
    push_redemptions = BooleanField(MAIL_TOPICS["redemptions"])
    push_expiry = BooleanField(MAIL_TOPICS["expiry"])
    push_news = BooleanField(MAIL_TOPICS["news"])

    def __init__(self, customer: Customer, *, push_channel: bool = True, **kwargs: Any) -> None:
        super().__init__(obj=customer, **kwargs)
        # Without a phone channel on this app (no plugin pushes here) the push choices are
        # not shown, and the stored ones are kept as they are.
        self.push_channel = push_channel
        self._stored_push = {topic: wants_push(customer, topic) for topic in MAIL_TOPICS}
        self.birthday.render_kw = {"max": date.today().isoformat()}
        self.language.choices = [("", _("Automatic"))] + [
            (code, LANGUAGE_NAMES[code]) for code in LANGUAGES
        ]
        if not self.is_submitted():
            self.language.data = customer.language or ""
            for topic in MAIL_TOPICS:
                self[f"mail_{topic}"].data = (customer.mail_preferences or {}).get(topic, True)
                self[f"push_{topic}"].data = wants_push(customer, topic)

    def mail_fields(self) -> list[Any]:
        return [self[f"mail_{topic}"] for topic in MAIL_TOPICS]

    def push_fields(self) -> list[Any]:
        return [self[f"push_{topic}"] for topic in MAIL_TOPICS] if self.push_channel else []

    def _wants_push(self, topic: str) -> bool:
        return self[f"push_{topic}"].data if self.push_channel else self._stored_push[topic]

    def profile(self) -> Profile:
        return Profile(
            first_name=(self.first_name.data or "").strip(),
            last_name=(self.last_name.data or "").strip(),
            phone=(self.phone.data or "").strip() or None,
            birthday=self.birthday.data,
            language=self.language.data or None,
            unwanted_mail=frozenset(t for t in MAIL_TOPICS if not self[f"mail_{t}"].data),
            unwanted_push=frozenset(t for t in MAIL_TOPICS if not self._wants_push(t)),
        )


@bp.route("/profile", methods=["GET", "POST"])
@customer_required
def edit() -> Any:
    customer = current_customer()
    # The app has a phone channel when a plugin's script runs in its service worker.
    form = ProfileForm(
        customer, push_channel=bool(install.plugin_scripts("service_worker_scripts"))
    )
    if form.validate_on_submit():
        with platform_session(current_platform().sessions) as session:
            update_profile(session, customer.id, form.profile())
            session.commit()
        # The confirmation is said in the language just chosen (the request's copy of
        # the account is let go first: nothing of it is written back).
        db().expunge(customer)
        customer.language = form.profile().language
        refresh()
        flash(_("Your profile was saved."), "success")
        return redirect(app_url("app_profile.edit"))
    return render_template("app/profile.html", form=form), (422 if form.errors else 200)
