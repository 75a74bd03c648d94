"""Helpers for the managers' screens' tests: log in with a role, pages' CSRF, images."""

from __future__ import annotations

import io
import struct
import zlib

from sqlalchemy import select

from core.loyalty.staff import Role, StaffUser, create_staff
from tests.core.weblogin import csrf_token, post_login
from tests.factories import PASSWORD


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
                create_staff(session, email=email, name=f"{role.value} {tenant.slug}",
                             password=PASSWORD, role=role)
                session.commit()
    answer = post_login(client, tenant.slug, email, PASSWORD)
    assert answer.status_code == 302, answer.get_data(as_text=True)


def token(client, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    return csrf_token(page.get_data(as_text=True))


def png(width: int = 2, height: int = 2) -> bytes:
    """A real PNG, written by hand so the tests need no imaging library."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                               0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def upload(data: bytes, name: str = "photo.png"):
    return (io.BytesIO(data), name)
