"""Configuración: the merchant's profile, the program's settings and one section per
active plugin with settings, saved together: all of it or, on any error, none.

Plugins' sections are drawn from their marshmallow schema (`core.panel.schemaform`),
so a plugin gets its settings screen without a template of its own.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from babel.numbers import NumberFormatError, format_decimal, parse_decimal
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_babel import refresh
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, EmailField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, NumberRange, Optional

from core.host.errors import InvalidInput
from core.host.platform import current_platform
from core.loyalty.program import (
    MAX_POINTS_PER_OPERATION,
    ProgramSchema,
    get_program,
    update_program,
)
from core.panel import menu, schemaform
from core.panel.access import MANAGERS, can, staff_required
from core.panel.formkit import WholeNumberField, show_errors, store_upload
from core.web import uploads
from core.web.i18n import (
    LANGUAGE_NAMES,
    LANGUAGES,
    country_choices,
    currency_choices,
    money_locale,
    timezone_choices,
)
from core.web.request import db
from tenants import domains
from tenants.services import update_profile

menu.register(menu.MenuItem("t.panel_settings.index", _l("Settings"), roles=MANAGERS, order=90))

PROFILE = (
    "name",
    "business_type",
    "email",
    "phone",
    "whatsapp",
    "description",
    "country",
    "currency",
    "timezone",
    "language",
)
PROGRAM = (
    "equivalence_points",
    "equivalence_amount",
    "description_field",
    "employees_give_points",
    "welcome_points",
    "expiry_months",
    "customer_redemption_requests",
    "live_code_for_redemptions",
    "large_grant_points",
)


class SettingsForm(FlaskForm):
    # The merchant's profile
    name = StringField(_l("Business name"), validators=[Length(max=160)])
    logo = FileField(_l("Logo"), description=_l("PNG, JPEG, GIF or WebP, up to 2 MB."))
    remove_logo = BooleanField(_l("Remove the logo"))
    business_type = StringField(
        _l("Type of business"),
        validators=[Length(max=80)],
        description=_l("For example: café, bakery, beauty salon."),
    )
    email = EmailField(_l("E-mail"), validators=[Length(max=254)])
    phone = StringField(_l("Phone"), validators=[Length(max=40)])
    whatsapp = StringField(_l("WhatsApp"), validators=[Length(max=40)])
    description = TextAreaField(_l("Description of the business"), validators=[Length(max=2000)])
    country = SelectField(_l("Country"), validate_choice=False)
    currency = SelectField(_l("Currency"), validate_choice=False)
    timezone = SelectField(_l("Time zone"), validate_choice=False)
    language = SelectField(
        _l("Language"),
        validate_choice=False,
        choices=[SelectChoice(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
    )
    # The program
    equivalence_points = WholeNumberField(
        _l("Points"),
        validators=[
            Optional(),
            NumberRange(
                min=1,
                max=MAX_POINTS_PER_OPERATION,
                message=_l("Enter a whole number of points, 1 or more."),
            ),
        ],
    )
    equivalence_amount = StringField(_l("per amount of"))
    description_field = BooleanField(
        _l("Show a description field when giving points"),
        description=_l("For an invoice number or the reason; only the business sees it."),
    )
    employees_give_points = BooleanField(
        _l("Employees may give points without a purchase amount"),
        description=_l(
            "With a points equivalence. Owners and admins always may; the "
            "POS API follows its token's scopes."
        ),
    )
    welcome_points = WholeNumberField(
        _l("Welcome points"),
        validators=[
            Optional(),
            NumberRange(
                min=0, max=MAX_POINTS_PER_OPERATION, message=_l("Enter zero or more points.")
            ),
        ],
        description=_l("Given to every new customer. Empty or 0: none."),
    )
    expiry_months = WholeNumberField(
        _l("Unused points expire after (months)"),
        validators=[Optional(), NumberRange(min=1, max=120, message=_l("Enter 1 to 120 months."))],
        description=_l("Checked on the 1st of each month. Empty: points never expire."),
    )
    customer_redemption_requests = BooleanField(
        _l("Customers may request a reward from their app"),
        description=_l("The points are held until staff confirm or cancel the request."),
    )
    live_code_for_redemptions = BooleanField(
        _l("Redeem rewards only with the live QR of the customer's app"),
        description=_l(
            "The app's QR changes every 30 seconds, so a photo of someone's card stops "
            "working within a minute. The code on a printed card or typed at the till "
            "still earns points."
        ),
    )
    large_grant_points = WholeNumberField(
        _l("Confirm grants of more than (points)"),
        validators=[
            Optional(),
            NumberRange(
                min=1,
                max=MAX_POINTS_PER_OPERATION,
                message=_l("Enter a whole number of points, 1 or more."),
            ),
        ],
        description=_l(
            "Giving more points at once asks the employee to confirm, and "
            "Activity marks the grant. Empty: never ask."
        ),
    )


def make_blueprint() -> Blueprint:
    bp = Blueprint("panel_settings", __name__, url_prefix="/panel/settings")
    bp.route("/", methods=["GET", "POST"])(index)
    return bp


@staff_required(*MANAGERS)
def index() -> Any:
    session, tenant = db(), g.tenant
    plugins = _plugin_sections()
    if request.method == "GET":
        form = SettingsForm(obj=tenant)
        _fill_program(form, get_program(session))
        return _render(form, plugins, {}, {})

    form = SettingsForm()
    action = request.form.get(schemaform.ROW_ACTION)
    drafts = {
        name: schemaform.draft_from(info.settings_schema(), request.form, _prefix(name), action)
        for name, info in plugins
    }
    if action:  # a row added or removed without JavaScript: drawn again, nothing saved
        return _render(form, plugins, drafts, {})
    valid = form.validate_on_submit()
    program, program_ok = _read_program(form)
    plugin_data: dict[str, dict[str, Any]] = {}
    plugin_errors: dict[str, schemaform.Errors] = {}
    for name, info in plugins:
        schema = info.settings_schema()
        stored = schema.dump(current_platform().plugins.settings(session, name))
        data, errors = schemaform.parse(schema, drafts[name])
        # What could be read is validated too, so every refusal shows at once; a field
        # that could not be read keeps its own message.
        for path, messages in schemaform.validate(schema, {**stored, **data}).items():
            errors.setdefault(path, messages)
        plugin_data[name] = data
        if errors:
            plugin_errors[name] = errors
    # Every section goes through its service, so all refusals show at once; any
    # refusal rolls the whole save back.
    problems = not (valid and program_ok and not plugin_errors)
    new_logo = None
    try:
        new_logo = store_upload(form.logo.data, "logo")
    except InvalidInput as error:
        show_errors(form, error, fallback="logo")
        problems = True
    old_logo = tenant.logo
    profile = {field: getattr(form, field).data for field in PROFILE}
    if new_logo or form.remove_logo.data:
        profile["logo"] = new_logo
    try:
        update_profile(session, tenant, **profile)
    except InvalidInput as error:
        show_errors(form, error, fallback="name")
        problems = True
    if program_ok:
        try:
            update_program(session, program)
        except InvalidInput as error:
            _program_errors(form, error)
            show_errors(form, error, fallback="equivalence_amount")
            problems = True
    for name, data in plugin_data.items():
        if name in plugin_errors:
            continue
        try:
            current_platform().plugins.save_settings(session, name, data)
        except InvalidInput as error:
            for key, message in error.fields.items():
                plugin_errors.setdefault(name, {}).setdefault(schemaform.path_of(key), []).append(
                    schemaform.translate(message)
                )
            problems = True
    if problems:
        session.rollback()
        uploads.delete_image(tenant.id, new_logo)
        return _render(form, plugins, drafts, plugin_errors)
    session.commit()
    if "logo" in profile and old_logo != new_logo:
        uploads.delete_image(tenant.id, old_logo)
    # Flask-Babel read the locale (and time zone) once, before the save: read them again,
    # so a message queued from here on is in the language just chosen.
    refresh()
    flash(str(_l("Settings saved.")), "success")
    return redirect(url_for(".index"))


def _plugin_sections() -> list[tuple[str, Any]]:
    infos = current_platform().plugins.infos
    active = getattr(g, "active_plugins", set())
    found = [
        (name, infos[name])
        for name in active
        if name in infos and infos[name].settings_schema is not None
    ]
    return sorted(found, key=lambda pair: str(pair[1].title))


def _prefix(name: str) -> str:
    return f"plugin-{name}-"


def _fill_program(form: SettingsForm, program: dict[str, Any]) -> None:
    equivalence = program.get("points_per_amount")
    if equivalence:
        form.equivalence_points.data = equivalence["points"]
        form.equivalence_amount.data = format_decimal(
            Decimal(equivalence["amount"]), locale=money_locale()
        )
    form.description_field.data = program["description_field"]
    form.employees_give_points.data = program["employees_give_points"]
    form.welcome_points.data = program["welcome_points"]
    form.expiry_months.data = program["expiry_months"]
    form.customer_redemption_requests.data = program["customer_redemption_requests"]
    form.live_code_for_redemptions.data = program["live_code_for_redemptions"]
    form.large_grant_points.data = program["large_grant_points"]


def _read_program(form: SettingsForm) -> tuple[dict[str, Any], bool]:
    """The program's settings from the form; False when a field is refused (its error
    is on the form)."""
    points, amount_text = form.equivalence_points.data, (form.equivalence_amount.data or "").strip()
    amount = None
    if amount_text:
        try:
            amount = parse_decimal(amount_text, locale=money_locale(), strict=True)
        except NumberFormatError:
            amount = None
        if amount is None or not amount.is_finite() or amount <= 0:
            amount = None
            form.equivalence_amount.errors.append(
                str(
                    _l(
                        "Enter an amount greater than zero, e.g. %(example)s.",
                        example=format_decimal(Decimal("1000"), locale=money_locale()),
                    )
                )
            )
    equivalence = None
    if (points is None) != (not amount_text):
        if not (form.equivalence_points.errors or form.equivalence_amount.errors):
            missing = form.equivalence_amount if points is not None else form.equivalence_points
            missing.errors.append(str(_l("Fill in both points and amount, or neither.")))
    elif points is not None and amount is not None:
        equivalence = {"points": points, "amount": str(amount)}
    program = {
        "points_per_amount": equivalence,
        "description_field": bool(form.description_field.data),
        "employees_give_points": bool(form.employees_give_points.data),
        "welcome_points": form.welcome_points.data or 0,
        "expiry_months": form.expiry_months.data or None,
        "customer_redemption_requests": bool(form.customer_redemption_requests.data),
        "live_code_for_redemptions": bool(form.live_code_for_redemptions.data),
        "large_grant_points": form.large_grant_points.data,
    }
    if not any(getattr(form, name).errors for name in PROGRAM):  # a field's own message first
        for path, messages in schemaform.validate(ProgramSchema(), program).items():
            target = _program_field(form, path)
            target.errors = [*target.errors, *messages]
    return program, not any(getattr(form, name).errors for name in PROGRAM)


# The program's settings whose form fields are named otherwise.
_PROGRAM_FIELDS = {
    ("points_per_amount", "points"): "equivalence_points",
    ("points_per_amount", "amount"): "equivalence_amount",
    ("points_per_amount",): "equivalence_amount",
}


def _program_field(form: SettingsForm, path: schemaform.Path) -> Any:
    name = _PROGRAM_FIELDS.get(path) or str(path[0] if path else "")
    return getattr(form, name if name in PROGRAM else "equivalence_amount")


def _program_errors(form: SettingsForm, error: InvalidInput) -> None:
    """The program service's refusals (keys like "points_per_amount.amount") onto fields."""
    for key in list(error.fields):
        if key.startswith("points_per_amount"):
            target = _program_field(form, schemaform.path_of(key))
            target.errors = [*target.errors, schemaform.translate(error.fields.pop(key))]


def _choices(form: SettingsForm) -> None:
    form.country.choices = [SelectChoice(code, name) for code, name in country_choices()]
    form.currency.choices = [SelectChoice(code, name) for code, name in currency_choices()]
    form.timezone.choices = [SelectChoice(zone, name) for zone, name in timezone_choices()]


def _render(
    form: SettingsForm,
    plugins: list[tuple[str, Any]],
    drafts: dict[str, dict[str, Any]],
    plugin_errors: dict[str, schemaform.Errors],
) -> Any:
    _choices(form)
    session = db()
    sections = []
    problems = _form_problems(form)
    for name, info in plugins:
        schema = info.settings_schema()
        values = current_platform().plugins.settings(session, name)
        draft = {**schemaform.draft_of(schema, values), **drafts.get(name, {})}
        errors = dict(plugin_errors.get(name, {}))
        shown = schemaform.inputs(schema, draft, _prefix(name), errors)
        title = str(info.title)
        problems.extend(
            schemaform.Problem(f"plugin-{name}", title, message) for message in errors.get((), [])
        )
        problems.extend(schemaform.summary(shown, title))
        sections.append(
            {
                "name": name,
                "title": title,
                "description": str(info.description or ""),
                "inputs": shown,
                "errors": errors.get((), []),
            }
        )
    links = [
        link
        for extra in current_platform().plugins.call(
            getattr(g, "active_plugins", set()), "settings_links", tenant=g.tenant
        )
        for link in extra
        if can(*link.roles)
    ]
    shown_links = [
        {"url": url_for(link.endpoint, **link.values), "label": str(link.label)} for link in links
    ]
    if domains.allowed(g.tenant):  # the core's own page, on plans with an own domain
        shown_links.insert(
            0, {"url": url_for("t.panel_domain.index"), "label": str(_l("Own domain"))}
        )
    return render_template(
        "panel/settings/index.html",
        form=form,
        sections=sections,
        logo=g.tenant.logo,
        currency=g.tenant.currency,
        problems=problems,
        row_action=schemaform.ROW_ACTION,
        links=shown_links,
    )


def _form_problems(form: SettingsForm) -> list[schemaform.Problem]:
    """The profile's and the program's errors for the summary, in page order."""
    found = [schemaform.Problem("", "", str(message)) for message in form.form_errors]
    for section, names in (
        (_l("Business profile"), ("name", "logo", *PROFILE[1:])),
        (_l("Loyalty program"), PROGRAM),
    ):
        for name in names:
            field = getattr(form, name)
            found.extend(
                schemaform.Problem(field.id, f"{section} › {field.label.text}", str(message))
                for message in field.errors
            )
    return found
