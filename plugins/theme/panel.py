"""Configuración → Marca (managers): the brand's colours (with WCAG AA warnings and a
suggested colour), font, app icon, e-mail sender and reply-to, footer and links, with a
live preview of the app's card, an e-mail and the printable card before saving; and the
assets customers' phones fetch: the compiled stylesheet (its hash in the URL, cached for
a year) and the fonts' files."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import segno
from flask import Blueprint, Response, abort, flash, g, redirect, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from PIL import Image, UnidentifiedImageError
from wtforms import BooleanField, SelectField, StringField, TextAreaField

from core.sdk import (
    MANAGERS,
    BrandLook,
    InvalidInput,
    Tenant,
    brand_preview,
    db,
    render_mail,
    render_template,
    save_with_image,
    show_errors,
    staff_required,
    theme_look,
)
from plugins.theme import brands, contrast, fonts, stylesheet

YEAR = stylesheet.YEAR
# The preview frames draw e-mails (inline styles) and nothing runs in them.
PREVIEW_CSP = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; frame-ancestors 'self'; form-action 'none'"
)
SURFACES = ("app", "mail", "card")


class BrandForm(FlaskForm):
    primary = StringField(_l("Primary colour"))
    accent = StringField(_l("Accent colour"))
    font = SelectField(_l("Font"), validate_choice=False)
    image = FileField(_l("App icon"), description=_l("Square, PNG, at least 512 × 512 pixels."))
    remove_image = BooleanField(_l("Remove the app icon"))
    sender_name = StringField(_l("Sender name of your e-mails"))
    reply_to = StringField(_l("Reply-to address of your e-mails"))
    footer = TextAreaField(_l("Footer text"))
    terms_url = StringField(_l("Terms and conditions page"))
    privacy_url = StringField(_l("Privacy policy page"))

    def choices(self) -> brands.Choices:
        return brands.Choices(
            **{f.name: getattr(self, f.name).data or "" for f in dataclasses.fields(brands.Choices)}
        )


def _form(saved: brands.Choices) -> BrandForm:
    form = BrandForm(data=dataclasses.asdict(saved) if request.method == "GET" else None)
    form.font.choices = [("", _("The theme's font"))] + [
        (font.key, str(font.label)) for font in fonts.FONTS.values()
    ]
    return form


def _square(form: BrandForm) -> bool:
    """Whether the chosen icon (if any) is square; a file that is no image is left to the
    upload's own check, which names it."""
    storage = form.image.data
    if not storage or not getattr(storage, "filename", ""):
        return True
    try:
        with Image.open(storage.stream) as picture:
            width, height = picture.size
    except (UnidentifiedImageError, OSError, ValueError):
        return True
    finally:
        storage.stream.seek(0)
    return width == height


def preview_look(tenant: Tenant, choices: brands.Choices, icon: str | None) -> BrandLook:
    """The look `choices` would give, drawn before saving."""
    base = theme_look(tenant)
    answer = brands.overrides(tenant, choices, None, icon)
    colors = {**base.colors, **answer.pop("colors")}
    css = url_for(
        "t.theme_assets.preview_css",
        primary=colors["primary"],
        accent=colors["accent"],
        font=choices.font or "",
    )
    return dataclasses.replace(base, colors=colors, stylesheets=(css,), **answer)


def _frames(choices: brands.Choices) -> dict[str, str]:
    values = {k: v for k, v in dataclasses.asdict(choices).items() if v}
    return {
        surface: url_for("t.theme_panel.preview", surface=surface, **values) for surface in SURFACES
    }


def make_blueprint() -> Blueprint:
    bp = Blueprint("theme_panel", __name__, url_prefix="/panel/brand")

    @bp.route("/", methods=["GET", "POST"])
    @staff_required(*MANAGERS)
    def edit() -> Any:
        session, tenant = db(), g.tenant
        brand = brands.get_brand(session, tenant.id)
        saved = brands.Choices.of(brand)
        form = _form(saved)
        theme_colors = theme_look(tenant).colors
        shown = saved
        if request.method == "POST" and form.validate():
            wanted = form.choices()
            if not _square(form):
                form.image.errors = [_("The app icon must be square (as wide as it is tall).")]
            elif request.form.get("action") == "preview":
                try:
                    shown = brands.check(tenant, wanted)
                except InvalidInput as error:
                    show_errors(form, error)
            else:
                current_icon = brand.icon if brand else None
                written = save_with_image(
                    session,
                    form,
                    lambda change: brands.save(session, tenant, wanted, theme_colors, change),
                    current=current_icon,
                    fallback="footer",
                )
                if written is not None:
                    flash(_("Your brand's look was saved."), "success")
                    return redirect(url_for("t.theme_panel.edit"))
        warnings = brands.warnings(tenant, shown, theme_colors)
        return render_template(
            "theme/edit.html",
            form=form,
            brand=brand,
            frames=_frames(shown),
            warnings=warnings,
            theme_colors=theme_colors,
            ratios={
                name: round(contrast.ratio(contrast.text_on(color), color), 2)
                for name in ("primary", "accent")
                if contrast.HEX.match(color := getattr(shown, name) or theme_colors[name])
            },
        )

    @bp.get("/preview/<surface>")
    @staff_required(*MANAGERS)
    def preview(surface: str) -> Any:
        if surface not in SURFACES:
            abort(404)
        tenant = g.tenant
        wanted = brands.Choices(
            **{f.name: request.args.get(f.name, "") for f in dataclasses.fields(brands.Choices)}
        )
        try:
            wanted = brands.check(tenant, wanted)
        except InvalidInput as error:
            return Response(render_template("theme/preview_error.html", errors=error.fields), 422)
        brand = brands.get_brand(db(), g.tenant.id)
        shown = preview_look(tenant, wanted, brand.icon if brand else None)
        with brand_preview(tenant, shown):
            if surface == "mail":
                _subject, _text, html = render_mail(tenant, "theme/mail/sample", None)
            elif surface == "card":
                sample = SimpleNamespace(code="PV7K2Q", display_name=_("Ana García"))
                html = render_template(
                    "panel/customers/card.html",
                    tenant=tenant,
                    member=sample,
                    customer=sample,
                    qr=segno.make_qr(sample.code, error="m").png_data_uri(scale=1, border=4),
                )
            else:
                html = render_template("theme/preview_app.html")
        response = Response(html, mimetype="text/html")
        response.headers["Content-Security-Policy"] = PREVIEW_CSP
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
        response.headers["Cache-Control"] = "no-store"
        return response

    return bp


def _css(css: str, cache: str) -> Response:
    response = Response(css, mimetype="text/css")
    response.headers["Cache-Control"] = cache
    return response


def make_assets() -> Blueprint:
    """What customers' browsers fetch; public (no login), answered for the request's
    tenant only."""
    bp = Blueprint("theme_assets", __name__, url_prefix="/brand")

    @bp.get("/look-<digest>.css", endpoint="stylesheet")
    def stylesheet_file(digest: str) -> Response:
        brand = brands.get_brand(db(), g.tenant.id)
        if brand is None or not brand.stylesheet_hash or brand.stylesheet_hash != digest:
            abort(404)
        return _css(brand.stylesheet, f"public, max-age={YEAR}, immutable")

    @bp.get("/preview.css")
    def preview_css() -> Response:
        primary, accent = request.args.get("primary", ""), request.args.get("accent", "")
        font = request.args.get("font", "")
        if not (contrast.HEX.match(primary) and contrast.HEX.match(accent)):
            abort(404)
        if font and font not in fonts.FONTS:
            abort(404)
        return _css(stylesheet.compile_css(primary.lower(), accent.lower(), font), "no-store")

    @bp.get("/fonts/<key>/<name>")
    def font(key: str, name: str) -> Response:
        path = fonts.font_file(key, name)
        if path is None:
            abort(404)
        return send_file(path, mimetype="font/woff2", max_age=YEAR)

    return bp
