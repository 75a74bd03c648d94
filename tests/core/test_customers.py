"""Customers and memberships: codes, one account per person, search."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from core.host.actors import Actor
from core.host.errors import Conflict, InvalidInput, NotFound
from core.loyalty import customers
from core.loyalty.customers import CODE_ALPHABET, CODE_LENGTH, create_member, find_members
from core.loyalty.members import Customer, Membership, get_member

SYSTEM = Actor.system()


def _customer_count(platform) -> int:
    from core.host.db import platform_session

    with platform_session(platform.sessions) as session:
        return session.scalar(select(func.count(Customer.id)))


def test_codes_use_the_unambiguous_alphabet_and_are_unique(make_tenant, make_member, db):
    tenant = make_tenant()
    members = [make_member(tenant) for _ in range(40)]
    codes = [m.code for m in members]
    assert set(CODE_ALPHABET) == set("23456789ABCDEFGHJKMNPQRSTUVWXYZ")
    for code in codes:
        assert len(code) == CODE_LENGTH == 7
        assert set(code) <= set("23456789ABCDEFGHJKMNPQRSTUVWXYZ"), code
    assert len(set(codes)) == len(codes)
    with db(tenant) as session:
        stored = list(session.scalars(select(Membership.code)))
    assert sorted(stored) == sorted(codes)


def test_new_code_draws_only_from_the_alphabet():
    drawn = {customers.new_code() for _ in range(2000)}
    assert all(len(c) == 7 and set(c) <= set(CODE_ALPHABET) for c in drawn)
    # 2000 draws of 7 characters show (almost surely) every letter of the alphabet
    assert set("".join(drawn)) == set(CODE_ALPHABET)


def test_new_codes_draw_many_at_once_from_the_alphabet_evenly():
    drawn = customers.new_codes(20_000)
    assert len(drawn) == 20_000 and len(set(drawn)) > 19_990  # 31**7 codes: rare repeats
    assert all(len(c) == 7 and set(c) <= set(CODE_ALPHABET) for c in drawn)
    # each character equally likely: 140,000 characters, about 4,516 ± 66 of each (a
    # biased map, every byte taken modulo 31, would give the first 8 about 4,922)
    seen = Counter("".join(drawn))
    assert set(seen) == set(CODE_ALPHABET)
    assert max(seen.values()) < 4_516 * 1.08 and min(seen.values()) > 4_516 * 0.92
    assert customers.new_codes(0) == []


def test_a_code_collision_draws_again(make_tenant, make_member, db, monkeypatch):
    tenant = make_tenant()
    first = make_member(tenant)
    draws = iter([first.code, first.code, "ZZZZ222"])
    monkeypatch.setattr(customers, "new_code", lambda: next(draws))
    second = make_member(tenant)
    assert second.code == "ZZZZ222"
    with db(tenant) as session:
        assert session.scalar(select(func.count(Membership.id))) == 2
        assert get_member(session, "ZZZZ222").customer.email == second.customer.email


def test_same_code_is_allowed_in_another_tenant(make_tenant, make_member, monkeypatch):
    monkeypatch.setattr(customers, "new_code", lambda: "ABCDEFG")
    a = make_member(make_tenant())
    b = make_member(make_tenant())
    assert a.code == b.code == "ABCDEFG"


def test_one_person_is_a_member_of_two_tenants_with_one_account(
    make_tenant, make_member, db, platform
):
    shop_a, shop_b = make_tenant(), make_tenant()
    in_a = make_member(shop_a, email="Ana.Nunez@Mail.example")
    in_b = make_member(shop_b, email="ana.nunez@mail.example ")
    assert in_a.customer_id == in_b.customer_id
    assert in_a.id != in_b.id
    assert _customer_count(platform) == 1
    with db(shop_a) as session:
        assert [m.id for m in session.scalars(select(Membership))] == [in_a.id]
    with db(shop_b) as session:
        assert [m.id for m in session.scalars(select(Membership))] == [in_b.id]


def test_same_email_twice_in_one_tenant_is_a_conflict(make_tenant, make_member, db, platform):
    tenant = make_tenant()
    make_member(tenant, email="pedro@mail.example")
    with db(tenant) as session:
        with pytest.raises(Conflict) as refused:
            create_member(session, email="PEDRO@mail.example", actor=SYSTEM)
        assert "email" in refused.value.fields
        session.rollback()
        assert session.scalar(select(func.count(Membership.id))) == 1
    assert _customer_count(platform) == 1


def test_same_document_twice_in_one_tenant_is_a_conflict(make_tenant, make_member, db):
    shop_a, shop_b = make_tenant(), make_tenant()
    make_member(shop_a, document_id="1020304050")
    with db(shop_a) as session:
        with pytest.raises(Conflict) as refused:
            create_member(
                session, email="other@mail.example", document_id=" 1020304050 ", actor=SYSTEM
            )
        assert "document_id" in refused.value.fields
        session.rollback()
        assert session.scalar(select(func.count(Membership.id))) == 1
    # the same document in another merchant is another membership, and fine
    other = make_member(shop_b, document_id="1020304050")
    assert other.document_id == "1020304050"


def test_blank_documents_do_not_collide(make_tenant, make_member):
    tenant = make_tenant()
    a = make_member(tenant, document_id="")
    b = make_member(tenant, document_id="   ")
    assert a.document_id is None and b.document_id is None


def test_find_members_is_accent_and_case_insensitive(make_tenant, make_member, db):
    tenant = make_tenant()
    nunez = make_member(
        tenant,
        email="jnunez@correo.example",
        first_name="José",
        last_name="Núñez",
        document_id="CC-998877",
    )
    other = make_member(
        tenant,
        email="maria@correo.example",
        first_name="María",
        last_name="Gómez",
        document_id="CC-112233",
    )

    def ids(query):
        with db(tenant) as session:
            return [m.id for m in find_members(session, query)]

    assert ids("nunez") == [nunez.id]
    assert ids("NÚÑEZ") == [nunez.id]
    assert ids("jose nunez") == [nunez.id]
    assert ids("Jose") == [nunez.id]
    assert ids("maria gomez") == [other.id]
    assert ids("JNUNEZ@correo.example") == [nunez.id]
    assert ids("correo.example") == [other.id, nunez.id]  # newest first
    assert ids(nunez.code.lower()) == [nunez.id]
    assert ids(other.code) == [other.id]
    assert ids("998877") == [nunez.id]
    assert ids("cc-112233") == [other.id]
    assert ids("nobody") == []
    assert ids("%") == []  # LIKE wildcards are escaped
    assert ids("_") == []


def test_find_members_stays_in_its_tenant(make_tenant, make_member, db):
    shop_a, shop_b = make_tenant(), make_tenant()
    make_member(shop_a, last_name="Núñez")
    in_b = make_member(shop_b, last_name="Nuñez")
    with db(shop_b) as session:
        assert [m.id for m in find_members(session, "nunez")] == [in_b.id]


def test_get_member_by_code_in_any_case(make_tenant, make_member, db):
    tenant = make_tenant()
    member = make_member(tenant)
    with db(tenant) as session:
        assert get_member(session, member.code).id == member.id
        assert get_member(session, f"  {member.code.lower()} ").id == member.id
        with pytest.raises(NotFound):
            get_member(session, "2222222" if member.code != "2222222" else "3333333")
        with pytest.raises(NotFound):
            get_member(session, "")


def test_get_member_does_not_see_another_tenants_code(make_tenant, make_member, db):
    shop_a, shop_b = make_tenant(), make_tenant()
    member = make_member(shop_a)
    with db(shop_b) as session, pytest.raises(NotFound):
        get_member(session, member.code)


def test_birthday_in_the_future_is_refused(make_tenant, make_member, db):
    tenant = make_tenant()
    with db(tenant) as session:
        with pytest.raises(InvalidInput) as refused:
            create_member(
                session,
                email="future@mail.example",
                birthday=date.today() + timedelta(days=1),
                actor=SYSTEM,
            )
        assert "birthday" in refused.value.fields
        session.rollback()
        assert session.scalar(select(func.count(Membership.id))) == 0
    member = make_member(tenant, birthday=date(1990, 2, 28))
    assert member.birthday == date(1990, 2, 28)
    assert make_member(tenant, birthday=date.today()).birthday == date.today()


@pytest.mark.parametrize("email", ["", "nobody", "a@b", "a b@mail.example", "@mail.example"])
def test_invalid_email_is_refused(make_tenant, db, email):
    tenant = make_tenant()
    with db(tenant) as session, pytest.raises(InvalidInput):
        create_member(session, email=email, actor=SYSTEM)


def test_member_by_email_finds_only_this_merchants_member(make_tenant, make_member, db):
    a, b = make_tenant(), make_tenant()
    ana_b = make_member(b, email="ana@example.com", first_name="Ana")
    with db(a) as session:
        assert customers.member_by_email(session, "ana@example.com") is None  # b's only
        assert customers.member_by_email(session, "nadie@example.com") is None
    with db(b) as session:
        assert customers.member_by_email(session, "ana@example.com").id == ana_b.id


def test_update_member_changes_the_given_fields_by_create_members_rules(
    make_tenant, make_member, db
):
    tenant = make_tenant()
    ana = make_member(tenant, email="ana@example.com", first_name="Ana", document_id="10")
    make_member(tenant, email="bea@example.com", document_id="20")
    with db(tenant) as session:
        member = session.get(Membership, ana.id)
        with pytest.raises(Conflict):
            customers.update_member(session, member, document_id="20")
        with pytest.raises(InvalidInput):
            customers.update_member(session, member, birthday=date.today() + timedelta(days=1))
        session.rollback()
        member = session.get(Membership, ana.id)
        customers.update_member(
            session, member, first_name="Ána María", phone=" 300 ", last_name=""
        )
        session.commit()
    with db(tenant) as session:
        member = session.get(Membership, ana.id)
        assert (member.first_name, member.phone, member.document_id) == ("Ána María", "300", "10")
        assert member.last_name == "Test"  # an empty value leaves the field as it was
        assert [m.id for m in find_members(session, "ana maria")] == [ana.id]  # search follows
