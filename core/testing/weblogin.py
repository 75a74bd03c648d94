"""Helpers for tests that go through the staff login form like a browser."""

from __future__ import annotations

import html
import re

from sqlalchemy import select

from core.loyalty.staff import Role, StaffUser, create_staff
from core.testing.factories import PASSWORD

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
_FLASH = re.compile(r'<p class="flash (\w+)" role="alert">(.*?)</p>', re.S)
_FIGURE = re.compile(r'<span class="value">(.*?)</span><span class="label">(.*?)</span>', re.S)


def csrf_token(page: str) -> str:
    match = _CSRF.search(page)
    assert match, "no csrf_token field on the page"
    return match.group(1) or match.group(2)


def login_token(client, slug: str) -> str:
    page = client.get(f"/t/{slug}/login")
    assert page.status_code == 200
    return csrf_token(page.get_data(as_text=True))


def post_login(client, slug: str, email: str, password: str, *, token: str | None = None):
    token = token if token is not None else login_token(client, slug)
    return client.post(
        f"/t/{slug}/login", data={"email": email, "password": password, "csrf_token": token}
    )


def flashes(page: str) -> list[tuple[str, str]]:
    return [(kind, html.unescape(text.strip())) for kind, text in _FLASH.findall(page)]


def figures(page: str) -> dict[str, str]:
    """The panel's figures: label -> shown value."""
    return {html.unescape(label): value for value, label in _FIGURE.findall(page)}


def owner_email(db, tenant) -> str:
    with db(tenant) as session:
        return session.scalars(select(StaffUser.email).where(StaffUser.role == Role.OWNER)).one()


def login(client, db, tenant, role: Role = Role.OWNER) -> None:
    """Log in as the tenant's owner, or as a new staff member with `role`."""
    if role == Role.OWNER:
        email = owner_email(db, tenant)
    else:
        email = f"{role.value}@{tenant.slug}.example"
        with db(tenant) as session:
            if session.scalar(select(StaffUser.id).where(StaffUser.email == email)) is None:
                create_staff(
                    session,
                    email=email,
                    name=f"{role.value} {tenant.slug}",
                    password=PASSWORD,
                    role=role,
                )
                session.commit()
    answer = post_login(client, tenant.slug, email, PASSWORD)
    assert answer.status_code == 302, answer.get_data(as_text=True)


def token(client, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    return csrf_token(page.get_data(as_text=True))


def sign_in_customer(client, app, customer, *, domain: str = "localhost") -> str:
    """Give `client` a signed-in customer app session for `customer` (a Customer, or a
    Membership's customer) on `domain`, as the app's sign-in would; returns the token."""
    from flask import g

    from core.customer_app.sessions import COOKIE, log_in
    from core.host.db import platform_session
    from core.loyalty.members import Customer

    customer_id = getattr(customer, "customer_id", None) or customer.id
    with app.test_request_context(), platform_session(app.extensions["premia"].sessions) as s:
        log_in(s, s.get(Customer, customer_id))
        s.commit()
        token = g.customer_cookie
    client.set_cookie(COOKIE, token, domain=domain)
    return token
