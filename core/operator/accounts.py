"""Operators' accounts: a password (argon2id, as staff's) and a required second factor.

The second factor is a TOTP code (RFC 6238, 30-second steps, an authenticator app enrolled
by scanning a QR code) or, when the phone is lost, one of ten one-time recovery codes
given at enrolment (stored as SHA-256 hashes: they are long random strings, nothing to
brute-force). A TOTP code is accepted once: the step it belongs to is remembered.
A signed-in operator holds a server-side session (`OperatorSession`), which logout, a
password change or a deactivation end, as staff sessions do.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import secrets
import time
from datetime import timedelta

import pyotp
import segno
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.host.db import utcnow
from core.host.errors import Conflict, InvalidInput
from core.loyalty.staff import check_password_strength, normalize_email
from core.operator.models import Operator, OperatorSession, RecoveryCode
from core.web import sealing
from core.web.passwords import hash_password, needs_rehash, verify_password
from core.web.staff_sessions import password_stamp

log = logging.getLogger(__name__)

RECOVERY_CODES = 10
# A console session unused this long ends (shorter than staff's: it reaches every merchant).
IDLE = timedelta(hours=12)
SEEN_EVERY = timedelta(minutes=5)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def create_operator(session: Session, email: str, password: str) -> Operator:
    """A new operator; they enrol their second factor at their first sign-in."""
    email = normalize_email(email)
    check_password_strength(password)
    if session.scalar(select(Operator.id).where(Operator.email == email)):
        raise Conflict(_l("There is already an operator with this e-mail."))
    operator = Operator(email=email, password_hash=hash_password(password))
    session.add(operator)
    session.flush()
    return operator


def check_password(session: Session, email: str, password: str) -> Operator | None:
    """The active operator with these credentials (the first factor only), or None."""
    try:
        email = normalize_email(email)
    except InvalidInput:
        email = ""
    operator = session.scalar(select(Operator).where(Operator.email == email))
    ok = verify_password(operator.password_hash if operator else None, password)
    if not (ok and operator and operator.active):
        return None
    if needs_rehash(operator.password_hash):
        operator.password_hash = hash_password(password)
    return operator


# --- TOTP ------------------------------------------------------------------
# The key is stored sealed (core/web/sealing.py): 20 bytes sealed are 64 characters. A
# 32-character value is a key stored in the clear before sealing; it is sealed when next used.
TOTP_SEAL = "operator-totp"
CLEAR_LENGTH = 32


def _sealed(key: str) -> str:
    return sealing.seal(base64.b32decode(key), TOTP_SEAL)


def totp_key(operator: Operator) -> str | None:
    """The operator's TOTP key in base32 (what an authenticator app holds), or None."""
    stored = operator.totp_secret
    if stored is None or len(stored) == CLEAR_LENGTH:
        return stored
    try:
        return base64.b32encode(sealing.unseal(stored, TOTP_SEAL)).decode()
    except sealing.Unreadable:
        log.warning("operator %s: TOTP key sealed with another key", operator.id)
        return None


def enrolment_secret(session: Session, operator: Operator) -> str:
    """The secret an operator who has not enrolled yet scans (made once, kept until
    confirmed, so that reloading the page shows the same QR code)."""
    if operator.enrolled:
        raise Conflict(_l("The authenticator app is already set up."))
    key = totp_key(operator)
    if key is None:
        key = pyotp.random_base32()
        operator.totp_secret = _sealed(key)
        session.flush()
    return key


def provisioning_uri(operator: Operator, issuer: str) -> str:
    return pyotp.TOTP(totp_key(operator) or "").provisioning_uri(
        name=operator.email, issuer_name=issuer
    )


def qr_svg(uri: str) -> str:
    """The QR code of `uri` as an inline SVG (no file, no network)."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=5, xmldecl=False, svgns=True)
    return out.getvalue().decode()


def _totp_step(operator: Operator, code: str, now: float | None = None) -> int | None:
    """The time step whose code `code` is (the previous, current or next one: clocks
    drift), or None."""
    code = "".join(code.split())
    key = totp_key(operator)
    if not (key and code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(key)
    now = time.time() if now is None else now
    current = int(now // totp.interval)
    for step in (current, current - 1, current + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _use_totp(operator: Operator, code: str, now: float | None = None) -> bool:
    step = _totp_step(operator, code, now)
    if step is None or (operator.totp_last_step is not None and step <= operator.totp_last_step):
        return False  # wrong, or already used (a code overheard is worth nothing)
    operator.totp_last_step = step
    if len(operator.totp_secret or "") == CLEAR_LENGTH:
        operator.totp_secret = _sealed(operator.totp_secret)
    return True


def confirm_enrolment(session: Session, operator: Operator, code: str) -> list[str]:
    """Confirm the authenticator app with a code from it; returns the recovery codes,
    shown once."""
    if operator.enrolled:
        raise Conflict(_l("The authenticator app is already set up."))
    if not _use_totp(operator, code):
        raise InvalidInput(code=_l("This code is not right. Type the current one."))
    operator.totp_confirmed_at = utcnow()
    return new_recovery_codes(session, operator)


def new_recovery_codes(session: Session, operator: Operator) -> list[str]:
    """Ten new recovery codes; the previous ones stop working."""
    session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.operator_id == operator.id, RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
    for code in codes:
        session.add(RecoveryCode(operator_id=operator.id, code_hash=_digest(_plain(code))))
    session.flush()
    return codes


def _recovery_code() -> str:
    raw = secrets.token_hex(5)  # 40 bits each, written as xxxxx-xxxxx
    return f"{raw[:5]}-{raw[5:]}"


def _plain(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def second_factor(session: Session, operator: Operator, code: str) -> str | None:
    """Check a TOTP code or an unused recovery code (which is then used up): "totp",
    "recovery", or None when neither."""
    if not operator.enrolled:
        return None
    # Two sign-ins with one code at the same moment: the second waits, then sees it used.
    session.refresh(operator, with_for_update=True)
    if _use_totp(operator, code):
        return "totp"
    plain = _plain(code)
    if len(plain) != 10:
        return None
    row = session.scalar(
        select(RecoveryCode)
        .where(
            RecoveryCode.operator_id == operator.id,
            RecoveryCode.code_hash == _digest(plain),
            RecoveryCode.used_at.is_(None),
        )
        .with_for_update()
    )
    if row is None:
        return None
    row.used_at = utcnow()
    return "recovery"


def recovery_codes_left(session: Session, operator: Operator) -> int:
    return len(
        session.scalars(
            select(RecoveryCode.id).where(
                RecoveryCode.operator_id == operator.id, RecoveryCode.used_at.is_(None)
            )
        ).all()
    )


# --- sessions ----------------------------------------------------------------


def open_session(
    session: Session, operator: Operator, address: str | None
) -> tuple[OperatorSession, str]:
    """A console session for an operator who gave both factors; the token for the cookie."""
    token = secrets.token_urlsafe(32)
    row = OperatorSession(
        token_hash=_digest(token),
        operator_id=operator.id,
        password_stamp=password_stamp(operator.password_hash),
        address=(address or "")[:64] or None,
    )
    operator.last_login_at = utcnow()
    session.add(row)
    session.flush()
    return row, token


def find_session(session: Session, token: str) -> tuple[OperatorSession, Operator] | None:
    """The open session of this token and its operator, if both still hold."""
    if not token:
        return None
    row = session.scalar(
        select(OperatorSession).where(
            OperatorSession.token_hash == _digest(token),
            OperatorSession.ended_at.is_(None),
            OperatorSession.last_seen_at > utcnow() - IDLE,
        )
    )
    operator = session.get(Operator, row.operator_id) if row is not None else None
    if operator is None or not operator.active or not operator.enrolled:
        return None
    if not secrets.compare_digest(row.password_stamp, password_stamp(operator.password_hash)):
        return None
    return row, operator


def seen(row: OperatorSession) -> bool:
    now = utcnow()
    if now - row.last_seen_at < SEEN_EVERY:
        return False
    row.last_seen_at = now
    return True


def end_session(row: OperatorSession) -> None:
    row.ended_at = row.ended_at or utcnow()
