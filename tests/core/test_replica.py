"""Reads on a replica (core/host/replica.py), against a real streaming replica of the
test server (`streaming_replica`, core/testing/replica.py): Inicio, Actividad, the
exports, the customer app's history and the survey and referral reports read on it, on a connection
that is in recovery; writes never go there; a stopped replica falls back to the
primary; a lagging one says how fresh its figures are. Without a replica (and on
SQLite) every read is the primary's."""

from __future__ import annotations

import csv
import html
import io
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
import pytest
from sqlalchemy import event, func, select, text

from core.host.actors import Actor
from core.host.db import scope
from core.host.replica import (
    APPLICATION_NAME,
    FRESHNESS,
    ReplicaWriteError,
    freshness,
    make_replica,
    reading_session,
)
from core.loyalty import ledger
from core.loyalty.members import Membership
from core.testing.servers import _free_port
from core.testing.weblogin import csrf_token, figures, login, sign_in_customer
from core.web.request import db as request_db
from core.web.request import reading_db, reading_notice
from plugins.nps import surveys
from tests.plugins.nps.helpers import configure

NOTICE_AFTER = 1.0  # seconds of lag from which the pages in these tests say so
RETRY_AFTER = 3.0  # seconds a failed replica is left alone in these tests


@pytest.fixture
def app(make_app, request):
    """The app, with the streaming replica configured for the PostgreSQL tests."""
    config = {}
    if request.node.get_closest_marker("postgres"):
        replica = request.getfixturevalue("streaming_replica")
        replica.wait_caught_up()  # the previous test's rows are gone on it too
        config = {
            "PREMIA_DATABASE_REPLICA_URL": replica.url,
            "PREMIA_REPLICA_NOTICE_SECONDS": NOTICE_AFTER,
            "PREMIA_REPLICA_RETRY_SECONDS": RETRY_AFTER,
        }
    application = make_app(**config)
    with application.app_context():
        yield application


@dataclass
class Statements:
    """Every statement the app ran, by engine, with whether its connection was in recovery
    (asked on that same connection, just before the statement)."""

    ran: list[tuple[str, bool, str]] = field(default_factory=list)  # (engine, recovery, sql)
    tries: dict[str, int] = field(default_factory=lambda: {"primary": 0, "replica": 0})

    def where(self, fragment: str) -> set[tuple[str, bool]]:
        return {(engine, recovery) for engine, recovery, sql in self.ran if fragment in sql}

    def on(self, engine: str) -> list[str]:
        return [sql for name, _recovery, sql in self.ran if name == engine]


@contextmanager
def recording(platform) -> Iterator[Statements]:
    found = Statements()
    listeners = []
    for name, engine in (("primary", platform.engine), ("replica", platform.replica.engine)):

        def before(conn, cursor, statement, parameters, context, executemany, name=name):
            recovery = cursor.connection.execute("SELECT pg_is_in_recovery()").fetchone()[0]
            found.ran.append((name, recovery, statement))

        def connecting(*_args, name=name):  # before each attempt, refused or not
            found.tries[name] += 1

        for target, event_name, listener in (
            (engine, "before_cursor_execute", before),
            (engine, "do_connect", connecting),
        ):
            event.listen(target, event_name, listener)
            listeners.append((target, event_name, listener))
    try:
        yield found
    finally:
        for target, event_name, listener in listeners:
            event.remove(target, event_name, listener)


def page(client, url: str) -> str:
    answer = client.get(url)
    assert answer.status_code == 200, (url, answer.status_code)
    return html.unescape(answer.get_data(as_text=True)).replace("\xa0", " ")


def earn(db, tenant, member, points: int):
    with db(tenant) as session:
        entry = ledger.earn(
            session, ledger.lock_member(session, member.id), points=points, actor=Actor.system()
        )
        session.commit()
        return entry


@pytest.fixture
def shop(make_tenant):
    return make_tenant(slug="cafe")  # Spanish


# --- on the real replica ----------------------------------------------------------


@pytest.mark.postgres
def test_the_fixture_is_a_hot_standby_streaming_from_the_test_server(streaming_replica):
    with streaming_replica.connect() as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
        assert conn.execute("SELECT status FROM pg_stat_wal_receiver").fetchone()[0] == "streaming"
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TABLE nothing (id int)")


@pytest.mark.postgres
def test_inicio_reads_its_figures_on_the_replica(
    app, client, db, shop, make_member, streaming_replica
):
    ana = make_member(shop)
    earn(db, shop, ana, 40)
    streaming_replica.wait_caught_up()
    login(client, db, shop)
    with recording(app.extensions["premia"]) as seen:
        text_ = page(client, "/t/cafe/panel/")
    shown = figures(text_)
    assert (shown["Clientes"], shown["Puntos en circulación"]) == ("1", "40")
    # The customer count and the outstanding points: on the replica, in recovery, only.
    assert seen.where("count(memberships.id)") == {("replica", True)}
    assert seen.where("FROM ledger_entries") == {("replica", True)}
    # Who is logged in, which plugins are active: the primary's.
    assert ("primary", False) in seen.where("FROM staff_users")
    assert 'class="flash freshness"' not in text_  # caught up: nothing to say
    with streaming_replica.connect() as conn:
        backends = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
            " AND datname = current_database()",
            (APPLICATION_NAME,),
        ).fetchone()[0]
    assert backends >= 1  # the replica's own view of who read from it


@pytest.mark.postgres
def test_activity_exports_history_and_the_survey_report_read_on_the_replica(
    app, client, db, shop, make_member, streaming_replica
):
    ana = make_member(shop, first_name="Ana")
    entry = earn(db, shop, ana, 25)
    configure(db, shop, every_days=0)
    with db(shop) as session:
        survey = surveys.offer(session, session.get(Membership, ana.id), entry=entry)
        surveys.answer(session, survey.id, 9, "muy bien", actor=Actor.system())
        session.commit()
    streaming_replica.wait_caught_up()
    login(client, db, shop)
    platform = app.extensions["premia"]

    with recording(platform) as seen:
        assert "25" in page(client, "/t/cafe/panel/activity/")
    assert seen.where("FROM ledger_entries") == {("replica", True)}

    with recording(platform) as seen:
        exported = client.get("/t/cafe/panel/customers/export.csv").get_data(as_text=True)
    assert [row[1] for row in csv.reader(io.StringIO(exported), delimiter=";")][1:] == ["Ana"]
    assert seen.where("FROM memberships") == {("replica", True)}

    with recording(platform) as seen:
        assert "muy bien" in page(client, "/t/cafe/panel/nps/")
        assert "muy bien" in client.get("/t/cafe/panel/nps/answers.csv").get_data(as_text=True)
    assert seen.where("FROM nps_surveys") == {("replica", True)}

    with recording(platform) as seen:
        page(client, "/t/cafe/panel/referrals/")
    assert seen.where("FROM referrals_referrals") == {("replica", True)}

    sign_in_customer(client, app, ana)
    with recording(platform) as seen:
        history = page(client, "/t/cafe/app/history")
    assert "25" in history
    assert seen.where("FROM ledger_entries") == {("replica", True)}


@pytest.mark.postgres
def test_writes_never_go_to_the_replica(app, client, db, shop, make_member, streaming_replica):
    ana = make_member(shop)
    platform = app.extensions["premia"]
    with recording(platform) as seen:
        login(client, db, shop)
        page(client, "/t/cafe/panel/")
        url = "/t/cafe/panel/customers/invite"
        token = csrf_token(page(client, url))
        answer = client.post(url, data={"csrf_token": token, "email": "nueva@mail.example"})
        assert answer.status_code == 302
        page(client, "/t/cafe/panel/activity/")
    writes = ("INSERT", "UPDATE", "DELETE")
    assert [sql for sql in seen.on("replica") if sql.lstrip().upper().startswith(writes)] == []
    assert any(sql.startswith("INSERT INTO memberships") for sql in seen.on("primary"))
    assert seen.on("replica")  # the pages did read there

    with reading_session(platform.replica, platform.sessions, shop.id) as session:
        member = session.get(Membership, ana.id)
        member.first_name = "Otra"
        with pytest.raises(ReplicaWriteError):
            session.flush()


@pytest.mark.postgres
def test_a_reading_session_is_scoped_to_its_tenant_and_in_recovery(
    app, db, shop, make_tenant, make_member, streaming_replica
):
    other = make_tenant()
    mine, _theirs = make_member(shop), make_member(other)
    streaming_replica.wait_caught_up()
    platform = app.extensions["premia"]
    with reading_session(platform.replica, platform.sessions, shop.id) as session:
        assert session.scalar(text("SELECT pg_is_in_recovery()")) is True
        assert session.scalars(select(Membership.id)).all() == [mine.id]
        assert session.scalar(select(func.count()).select_from(Membership)) == 1
        assert freshness(session).in_recovery is True


@pytest.mark.postgres
def test_a_stopped_replica_falls_back_to_the_primary_and_is_used_again_when_back(
    app, client, db, shop, make_member, streaming_replica
):
    make_member(shop)
    streaming_replica.wait_caught_up()
    login(client, db, shop)
    platform = app.extensions["premia"]
    page(client, "/t/cafe/panel/")  # the pool now holds a connection to the replica
    streaming_replica.stop()
    try:
        make_member(shop)  # written while it is down: the primary's page shows it
        with recording(platform) as seen:
            shown = figures(page(client, "/t/cafe/panel/"))
        assert shown["Clientes"] == "2"
        assert seen.where("count(memberships.id)") == {("primary", False)}
        assert seen.on("replica") == []
        assert seen.tries["replica"] == 1  # tried once, refused before any statement
        # Left alone for a while: the next pages do not even try it.
        with recording(platform) as seen:
            page(client, "/t/cafe/panel/activity/")
            page(client, "/t/cafe/panel/")
        assert seen.tries["replica"] == 0 and seen.on("replica") == []
    finally:
        streaming_replica.start()
    streaming_replica.wait_caught_up()
    time.sleep(max(0.0, platform.replica.down_until - time.monotonic()))
    with recording(platform) as seen:
        shown = figures(page(client, "/t/cafe/panel/"))
    assert shown["Clientes"] == "2"
    assert seen.where("count(memberships.id)") == {("replica", True)}


@pytest.mark.postgres
def test_a_lagging_replica_says_how_fresh_its_figures_are(
    app, client, db, make_tenant, make_member, streaming_replica
):
    shop = make_tenant(slug="cafe")  # Spanish
    english = make_tenant(slug="deli", language="en")
    ana = make_member(shop)
    make_member(english)
    earn(db, shop, ana, 10)
    streaming_replica.wait_caught_up()
    login(client, db, shop)
    sign_in_customer(client, app, ana)
    assert "flash freshness" not in page(client, "/t/cafe/panel/")
    with streaming_replica.replay_paused():
        make_member(shop)
        earn(db, shop, ana, 7)
        _wait_for_lag(streaming_replica, NOTICE_AFTER)
        text_ = page(client, "/t/cafe/panel/")
        assert figures(text_)["Clientes"] == "1"  # what the replica has replayed
        assert "Cifras al " in text_ and "los últimos movimientos aparecerán" in text_
        history = page(client, "/t/cafe/app/history")
        assert "Cifras al " in history
        assert figures(text_)["Puntos en circulación"] == "10"
        login(client, db, english)
        assert "Figures as of " in page(client, "/t/deli/panel/")
    streaming_replica.wait_caught_up()
    login(client, db, shop)
    text_ = page(client, "/t/cafe/panel/")
    assert "flash freshness" not in text_
    assert (figures(text_)["Clientes"], figures(text_)["Puntos en circulación"]) == ("2", "17")


def _wait_for_lag(replica, seconds: float) -> None:
    """Until the replica's own measure of its lag (the one the pages use) passes `seconds`."""
    deadline = time.monotonic() + 30
    with replica.connect() as conn:
        while conn.execute(FRESHNESS.text).fetchone()[2] <= seconds:
            assert time.monotonic() < deadline, "the replica does not lag"
            time.sleep(0.1)


# --- without a replica (any backend) -----------------------------------------------


def test_without_a_replica_every_read_is_the_primarys(app, shop, make_member):
    mine = make_member(shop)
    platform = app.extensions["premia"]
    assert platform.replica is None
    with app.test_request_context():
        scope(request_db(), shop.id)
        assert reading_db() is request_db()
        assert reading_notice() is None
    with reading_session(None, platform.sessions, shop.id) as session:
        assert session.info["tenant_id"] == shop.id
        assert session.scalars(select(Membership.id)).all() == [mine.id]
        assert freshness(session) is None


def test_a_replica_is_postgresql_or_nothing():
    assert make_replica({}) is None
    assert make_replica({"PREMIA_DATABASE_REPLICA_URL": ""}) is None
    with pytest.raises(ValueError, match="PostgreSQL"):
        make_replica({"PREMIA_DATABASE_REPLICA_URL": "sqlite:////tmp/replica.db"})


def test_a_replica_that_does_not_answer_is_left_alone_for_a_while():
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/nothing"  # nobody listens
    replica = make_replica({"PREMIA_DATABASE_REPLICA_URL": url, "PREMIA_REPLICA_RETRY_SECONDS": 60})
    tries = []
    event.listen(replica.engine, "do_connect", lambda *args: tries.append(1))
    try:
        assert replica.open(1) is None
        assert tries == [1]
        assert replica.down_until > time.monotonic() + 50
        assert replica.open(1) is None
        assert tries == [1]  # not tried again meanwhile
        replica.down_until = 0.0  # the while has passed
        assert replica.open(1) is None
        assert tries == [1, 1]
    finally:
        replica.engine.dispose()
