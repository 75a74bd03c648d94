"""Live codes: the app's rotating QR. RFC 6238's own test vector, then Café Central's
till: Ana's live code of now and of the window before opens her; one three windows old
(a code shown 90 seconds ago) and a photo taken two minutes ago do not; a live code of
another merchant's member finds nobody; and where the merchant requires the live QR for
redemptions, her static code still earns but no longer redeems."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from core.host.actors import Actor
from core.host.db import clock_at
from core.host.errors import NotFound
from core.loyalty import live_codes
from core.loyalty.ledger import earn, lock_presented_member
from core.loyalty.members import Membership, find_member, get_member
from core.loyalty.program import update_program
from core.loyalty.rewards import LiveCodeRequired, create_reward, redeem_reward

STAFF = Actor.staff(None)
NOW = datetime(2026, 12, 1, 14, 5, 10, tzinfo=UTC)


def test_codes_follow_rfc_6238():
    # RFC 6238, appendix B: SHA-1, the ASCII key "12345678901234567890", 8 digits there;
    # the last six of 94287082 at T=59 s and of 07081804 at T=1111111109 s.
    secret = base64.b32encode(b"12345678901234567890").decode()
    assert live_codes.code_for(secret, 59 // 30) == "287082"
    assert live_codes.code_for(secret, 1111111109 // 30) == "081804"


def test_a_secret_is_random_base32_of_twenty_bytes():
    first, second = live_codes.new_secret(), live_codes.new_secret()
    assert first != second
    assert len(base64.b32decode(first)) == 20


def test_only_a_code_and_six_digits_parse_as_a_live_code():
    assert live_codes.parse("7KQ2M9X-012345") == ("7KQ2M9X", "012345")
    for text in ("7KQ2M9X", "7KQ2M9X-12345", "7KQ2M9X-1234567", "7KQ2M9X 012345", "-012345"):
        assert live_codes.parse(text) is None


@pytest.fixture
def cafe(make_tenant):
    return make_tenant(slug="cafe", name="Café Central")


@pytest.fixture
def ana(cafe, db, make_member):
    member = make_member(cafe, "ana@mail.example")
    with db(cafe) as session:
        row = session.get(Membership, member.id)
        row.live_secret = live_codes.new_secret()
        session.commit()
        session.refresh(row)
        return row


def shown(member, moment) -> str:
    """What Ana's app's QR said at `moment`."""
    return live_codes.live_code(member.code, member.live_secret, moment.timestamp())


def test_the_till_takes_the_current_code_and_the_previous_one(db, cafe, ana):
    with clock_at(NOW), db(cafe) as session:
        assert find_member(session, shown(ana, NOW)) == (session.get(Membership, ana.id), True)
        just_before = NOW - timedelta(seconds=live_codes.STEP)
        assert get_member(session, shown(ana, just_before)).id == ana.id
        # typed in lower case at the till, as the static code may be
        assert get_member(session, shown(ana, NOW).lower()).id == ana.id


def test_the_static_code_keeps_working_and_says_so(db, cafe, ana):
    with clock_at(NOW), db(cafe) as session:
        member, live = find_member(session, ana.code)
        assert (member.id, live) == (ana.id, False)


@pytest.mark.parametrize("age", [timedelta(seconds=90), timedelta(minutes=2)])
def test_an_old_code_or_a_photo_is_refused(db, cafe, ana, age):
    # three windows old, and a photo of the screen taken two minutes ago
    with clock_at(NOW), db(cafe) as session:
        with pytest.raises(live_codes.StaleLiveCode) as refused:
            get_member(session, shown(ana, NOW - age))
        assert refused.value.status == 404 and refused.value.reason == "stale_live_code"


def test_wrong_digits_or_no_secret_yet_are_refused(db, cafe, ana, make_member):
    bruno = make_member(cafe, "bruno@mail.example")  # never opened the app: no secret
    with clock_at(NOW), db(cafe) as session:
        digits = shown(ana, NOW)[-6:]
        wrong = f"{(int(digits) + 1) % 10**6:06d}"
        with pytest.raises(live_codes.StaleLiveCode):
            get_member(session, f"{ana.code}-{wrong}")
        with pytest.raises(live_codes.StaleLiveCode):
            get_member(session, f"{bruno.code}-{digits}")


def test_another_merchants_member_is_nobody_here(db, cafe, make_tenant, make_member):
    other = make_tenant(slug="panaderia", name="Panadería")
    eva = make_member(other, "eva@mail.example")
    with db(other) as session:
        row = session.get(Membership, eva.id)
        row.live_secret = live_codes.new_secret()
        session.commit()
        code = live_codes.live_code(row.code, row.live_secret, NOW.timestamp())
    with clock_at(NOW), db(cafe) as session:
        with pytest.raises(NotFound) as refused:
            get_member(session, code)
        assert not isinstance(refused.value, live_codes.StaleLiveCode)


def test_a_merchant_may_require_the_live_qr_for_redemptions(db, cafe, ana):
    with clock_at(NOW), db(cafe) as session:
        reward = create_reward(session, name="Café gratis", points=10, stock=5)
        earn(session, session.get(Membership, ana.id), points=50, actor=STAFF)
        session.commit()
        # not required: the static code redeems
        member, live = lock_presented_member(session, ana.code)
        redeem_reward(session, member, reward, actor=STAFF, live_code=live)
        update_program(session, {"live_code_for_redemptions": True})
        session.commit()
        member, live = lock_presented_member(session, ana.code)
        with pytest.raises(LiveCodeRequired):
            redeem_reward(session, member, reward, actor=STAFF, live_code=live)
        session.rollback()
        # the static code still earns, and the live QR redeems
        earn(session, get_member(session, ana.code), points=5, actor=STAFF)
        member, live = lock_presented_member(session, shown(ana, NOW))
        redemption = redeem_reward(session, member, reward, actor=STAFF, live_code=live)
        session.commit()
        assert redemption.points == 10 and member.balance == 50 - 10 + 5 - 10
