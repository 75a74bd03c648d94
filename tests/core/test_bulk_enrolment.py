"""Enrolling many people at once (`enrol_in_bulk`) and finding which of many are
members already: accounts shared across merchants, the merchant's record on the
membership, codes, search text and welcome points as `create_member` makes them, one
`members_enrolled` announcement for all, nothing of another merchant revealed or
touched."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from core.host.actors import Actor
from core.loyalty import ledger
from core.loyalty.bulk_enrolment import (
    NewMember,
    enrol_in_bulk,
    members_by_documents,
    members_by_emails,
)
from core.loyalty.customers import create_member, find_members
from core.loyalty.ledger import Entry
from core.loyalty.members import Customer, Membership
from core.loyalty.program import update_program
from tests.core import recorder_plugin

pytestmark = pytest.mark.premia_plugins(recorder_plugin)
STAFF = Actor.staff(1)


def test_people_become_members_as_create_member_makes_them(make_tenant, make_member, db):
    shop, other = make_tenant(), make_tenant()
    theirs = make_member(other, email="ana@example.com", first_name="Secreta")
    with db(shop) as session:
        ids = enrol_in_bulk(
            session,
            [
                NewMember("ana@example.com", " Ana ", "Núñez", "1020", "300 1", date(1990, 12, 31)),
                NewMember("bea@example.com", "Bea"),
            ],
            actor=STAFF,
        )
        session.commit()
    assert all(isinstance(i, int) for i in ids) and len(set(ids)) == 2
    with db(shop) as session:
        ana = session.get(Membership, ids[0])
        assert (ana.email, ana.first_name, ana.last_name) == ("ana@example.com", "Ana", "Núñez")
        assert (ana.document_id, ana.phone, ana.birthday) == ("1020", "300 1", date(1990, 12, 31))
        assert (ana.balance, ana.joined_via) == (0, "import")
        assert ana.customer_id == theirs.customer_id  # one person, her account shared
        bea = session.get(Membership, ids[1])
        assert (bea.document_id, bea.phone, bea.birthday) == (None, None, None)
        assert len(ana.code) == 7 and ana.code != bea.code
        # Found by the members' search, by any part, as a member created one by one.
        assert [m.id for m in find_members(session, "nunez")] == [ana.id]
        assert [m.id for m in find_members(session, ana.code.lower())] == [ana.id]
        assert session.scalar(select(func.count(Entry.id))) == 0  # the program gives none
    with db(other) as session:
        assert session.get(Membership, theirs.id).first_name == "Secreta"
        assert session.scalar(select(func.count(Customer.id))) == 1


def test_members_found_by_emails_and_documents_of_this_merchant_only(make_tenant, make_member, db):
    shop, other = make_tenant(), make_tenant()
    ours = make_member(shop, email="ana@example.com", document_id="1020")
    make_member(other, email="bea@example.com", document_id="2030")
    with db(shop) as session:
        assert members_by_emails(session, ["ana@example.com", "bea@example.com", "x@y.co"]) == {
            "ana@example.com": ours.id
        }
        assert members_by_documents(session, ["1020", "2030"]) == {"1020": ours.id}
        assert members_by_emails(session, []) == {} and members_by_documents(session, []) == {}


def test_a_person_enrolled_meanwhile_is_left_out(make_tenant, make_member, db):
    shop = make_tenant()
    ana = make_member(shop, email="ana@example.com")
    make_member(shop, email="doc@example.com", document_id="77")
    with db(shop) as session:
        ids = enrol_in_bulk(
            session,
            [
                NewMember("ana@example.com", "Otra"),  # already ours: not a second membership
                NewMember("new@example.com", "Nueva", document_id="77"),  # document taken
                NewMember("cid@example.com", "Cid"),
            ],
            actor=STAFF,
        )
        session.commit()
    assert ids[0] is None and ids[1] is None and isinstance(ids[2], int)
    with db(shop) as session:
        assert session.get(Membership, ana.id).first_name != "Otra"
        assert session.scalar(select(func.count(Membership.id))) == 3
        # No account left behind for the person left out (looked up as the platform).
        left = select(Customer.id).where(Customer.email == "new@example.com")
        assert session.scalar(left.execution_options(person_lookup=True)) is None
        made = select(Customer.id).where(Customer.email == "cid@example.com")
        assert session.scalar(made.execution_options(person_lookup=True)) is not None


def _entries(session, member_id):
    return [
        (e.kind, e.points, e.balance_after, e.idempotency_key, e.fingerprint, e.actor_kind)
        for e in session.scalars(select(Entry).where(Entry.member_id == member_id))
    ]


def test_welcome_points_as_create_member_gives_them_and_one_announcement(
    make_plan, make_tenant, make_member, db, recorder
):
    make_plan("recording", {"recorder"})
    shop = make_tenant(plan="recording")
    one_by_one = make_member(shop, email="first@example.com")  # before the program's welcome
    with db(shop) as session:
        update_program(session, {"welcome_points": 50})
        session.commit()
    recorder.calls.clear()
    with db(shop) as session:
        ids = enrol_in_bulk(
            session,
            [NewMember("ana@example.com", "Ana"), NewMember("first@example.com", "Otra")],
            actor=STAFF,
        )
        single = create_member(session, email="bea@example.com", first_name="Bea", actor=STAFF)
        assert recorder.calls == []  # after commit only
        session.commit()
    ana_id = ids[0]
    assert ids[1] is None  # a member already
    with db(shop) as session:
        welcome_id = session.scalar(select(Entry.id).where(Entry.member_id == ana_id))
    assert recorder.calls == [
        ("entries_recorded", shop.slug, ("welcome", [welcome_id])),  # once for the batch
        ("members_enrolled", shop.slug, [ana_id]),
        ("entry_recorded", shop.slug, ("welcome", 50, single.id)),
        ("member_created", shop.slug, single.id),
    ]
    with db(shop) as session:
        ana, bea = session.get(Membership, ana_id), session.get(Membership, single.id)
        assert ana.balance == 50
        # The same entry as `create_member` writes, but for the member's id in the key.
        key = ledger.system_key("welcome", ana_id)
        assert _entries(session, ana_id) == [("welcome", 50, 50, key, None, "staff")]
        assert _entries(session, bea.id) == [
            ("welcome", 50, 50, ledger.system_key("welcome", bea.id), None, "staff")
        ]
        assert ledger.audit_member(session, ana_id) == (50, 50, 50)
        assert session.get(Membership, one_by_one.id).balance == 0


def test_no_announcement_when_the_caller_makes_it(make_plan, make_tenant, db, recorder):
    make_plan("recording", {"recorder"})
    shop = make_tenant(plan="recording")
    with db(shop) as session:
        enrol_in_bulk(
            session, [NewMember("ana@example.com", "Ana")], actor=STAFF, announce_enrolled=False
        )
        create_member(
            session, email="bea@example.com", first_name="Bea", actor=STAFF, announce_created=False
        )
        session.commit()
    assert [name for name, _slug, _detail in recorder.calls] == []


def test_opening_points_are_set_in_the_balance_and_written_after_the_welcome(
    make_plan, make_tenant, db, recorder
):
    """Each balance set by the membership's INSERT (welcome + opening), the entries
    written after it with their running balance_after, announced once per kind."""
    make_plan("recording", {"recorder"})
    shop = make_tenant(plan="recording")
    with db(shop) as session:
        update_program(session, {"welcome_points": 50})
        session.commit()
    key = lambda member_id: ledger.system_key("opening-test", member_id)  # noqa: E731
    with db(shop) as session:
        with pytest.raises(ValueError):  # opening points need their kind and key
            enrol_in_bulk(session, [NewMember("x@example.com", "X", points=5)], actor=STAFF)
        session.rollback()
        ana_id, bea_id = enrol_in_bulk(
            session,
            [NewMember("ana@example.com", "Ana", points=30), NewMember("bea@example.com", "Bea")],
            actor=STAFF,
            opening_kind="opening",
            opening_key=key,
        )
        session.commit()
    with db(shop) as session:
        welcome, opening = _entries(session, ana_id)
        assert welcome == ("welcome", 50, 50, ledger.system_key("welcome", ana_id), None, "staff")
        assert opening[:4] + opening[5:] == ("opening", 30, 80, key(ana_id), "staff")
        assert opening[4] is not None  # fingerprinted, as `earn` writes it
        assert [e[:3] for e in _entries(session, bea_id)] == [("welcome", 50, 50)]
        assert ledger.audit_member(session, ana_id) == (80, 80, 80)
        assert ledger.audit_member(session, bea_id) == (50, 50, 50)
        welcome_ids = sorted(session.scalars(select(Entry.id).where(Entry.kind == "welcome")).all())
        opening_ids = session.scalars(select(Entry.id).where(Entry.kind == "opening")).all()
    announced = [(name, detail) for name, _slug, detail in recorder.calls]
    assert ("members_enrolled", [ana_id, bea_id]) in announced
    assert ("entries_recorded", ("welcome", welcome_ids)) in announced
    assert ("entries_recorded", ("opening", list(opening_ids))) in announced
    assert not [name for name, _detail in announced if name == "entry_recorded"]
