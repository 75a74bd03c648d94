"""A brand's look: checking what its managers chose, saving it with its compiled
stylesheet, and what the `brand_look` hook answers from it."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from flask import has_request_context, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.sdk import InvalidInput, Tenant, utcnow
from plugins.theme import contrast, fonts, footer, stylesheet
from plugins.theme.models import Brand

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.I)


@dataclass
class Choices:
    """What the Marca form sets (empty strings: the theme's or the merchant's default)."""

    primary: str = ""
    accent: str = ""
    font: str = ""
    sender_name: str = ""
    reply_to: str = ""
    footer: str = ""
    terms_url: str = ""
    privacy_url: str = ""

    @classmethod
    def of(cls, brand: Brand | None) -> Choices:
        if brand is None:
            return cls()
        return cls(**{k: getattr(brand, k) or "" for k in asdict(cls())})


def get_brand(session: Session, tenant_id: int) -> Brand | None:
    """The tenant's look, if it set one (named: the session may be the platform's)."""
    return session.scalar(select(Brand).where(Brand.tenant_id == tenant_id))


def check(tenant: Tenant, choices: Choices) -> Choices:
    """The choices cleaned (trimmed, colours lower-case), or InvalidInput naming each
    field that cannot be used."""
    clean = Choices(**{k: (v or "").strip() for k, v in asdict(choices).items()})
    errors: dict[str, Any] = {}
    for name in ("primary", "accent"):
        value = getattr(clean, name).lower()
        setattr(clean, name, value)
        if value and not contrast.HEX.match(value):
            errors[name] = _l("Write a colour as # and six hexadecimal digits, e.g. #0f766e.")
    if clean.font and clean.font not in fonts.FONTS:
        errors["font"] = _l("Choose one of the fonts in the list.")
    if len(clean.sender_name) > 120:
        errors["sender_name"] = _l("The sender name may have at most 120 characters.")
    if clean.reply_to and (len(clean.reply_to) > 254 or not EMAIL.match(clean.reply_to)):
        errors["reply_to"] = _l("Write an e-mail address, e.g. hola@cafe.example.")
    for name in ("terms_url", "privacy_url"):
        value = getattr(clean, name)
        if value and (len(value) > 500 or not URL.match(value)):
            errors[name] = _l("Write a full address starting with https://.")
    if clean.footer and not errors:
        try:
            footer.render(clean.footer, tenant.name, clean.terms_url, clean.privacy_url)
        except InvalidInput as error:
            errors.update(error.fields)
    if errors:
        raise InvalidInput(**errors)
    return clean


def warnings(tenant: Tenant, choices: Choices, theme_colors: dict[str, str]) -> dict[str, str]:
    """Colours on which text fails WCAG AA: field → a suggested colour that passes."""
    found = {}
    for name in ("primary", "accent"):
        color = getattr(choices, name) or theme_colors.get(name, "")
        if contrast.HEX.match(color) and not contrast.passes(color):
            found[name] = contrast.suggest(color)
    return found


def save(
    session: Session,
    tenant: Tenant,
    choices: Choices,
    theme_colors: dict[str, str],
    image: dict[str, str | None],
) -> Brand:
    """Check and store the look (flushed, not committed) with its stylesheet compiled.

    `image` is `{"image": name}` when the app icon changes (None: removed), else {}."""
    clean = check(tenant, choices)
    brand = get_brand(session, tenant.id)
    if brand is None:
        brand = Brand(tenant_id=tenant.id)
        session.add(brand)
    for key, value in asdict(clean).items():
        setattr(brand, key, value or None)
    if "image" in image:
        brand.icon = image["image"]
    css = stylesheet.compile_css(
        clean.primary or theme_colors["primary"], clean.accent or theme_colors["accent"], clean.font
    )
    brand.stylesheet, brand.stylesheet_hash = css, stylesheet.content_hash(css)
    brand.updated_at = utcnow()
    session.flush()
    return brand


def overrides(tenant: Tenant, choices: Choices, css_hash: str | None, icon: str | None) -> dict:
    """What the `brand_look` hook answers for these choices (the saved ones, or the
    panel's preview), over the theme's look."""
    answer: dict[str, Any] = {"icon": icon}
    colors = {}
    for name in ("primary", "accent"):
        value = getattr(choices, name)
        if value:
            colors[name], colors[f"on_{name}"] = value, contrast.text_on(value)
    answer["colors"] = colors
    chosen = fonts.FONTS.get(choices.font)
    answer["font"] = chosen.family if chosen else None
    if choices.sender_name:
        answer["sender_name"] = choices.sender_name
    if choices.reply_to:
        answer["reply_to"] = choices.reply_to
    answer["terms_url"] = choices.terms_url or None
    answer["privacy_url"] = choices.privacy_url or None
    if choices.footer:
        try:
            html = footer.render(
                choices.footer, tenant.name, choices.terms_url, choices.privacy_url
            )
        except InvalidInput:  # checked when saved; drawn without it rather than not at all
            html = None
        if html:
            answer["footer"], answer["footer_text"] = html, footer.plain(html)
    if css_hash and has_request_context():
        answer["stylesheets"] = (
            url_for("t.theme_assets.stylesheet", digest=css_hash, tenant_slug=tenant.slug),
        )
    return answer
