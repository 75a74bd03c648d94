"""The till finding a member by the app's live code, against the static code, and the
wallet's signed pass against the same zip unsigned.

    python bench/live_codes.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_live

Creates (or empties) the database, migrates it, creates one merchant with --members
members (2,000), each with a live-code secret. Then, for --rounds rounds, alternating so
a shared machine's drifting cores hit both alike:

  static  get_member(session, "<code>")            a random member, one statement
  live    get_member(session, "<code>-<digits>")   the same, plus the HMACs of two windows

and, with keys made for the run, builds Ana's `.pkpass` signed (PKCS #7 with the WWDR
certificate, as served) and the same files zipped without the signature. Prints
lookups per second, the live/static ratio per round and its median, and passes per
second both ways. Figures go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.app import create_app  # noqa: E402
from core.host.actors import Actor  # noqa: E402
from core.host.db import platform_session, tenant_session  # noqa: E402
from core.host.migrate import upgrade  # noqa: E402
from core.loyalty import live_codes  # noqa: E402
from core.loyalty.customers import create_member  # noqa: E402
from core.loyalty.members import Membership, get_member  # noqa: E402
from tenants.services import create_tenant  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_live"


def fresh_database(url: str) -> None:
    from sqlalchemy import create_engine

    server, name = url.rsplit("/", 1)
    engine = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def setup(app, members: int) -> tuple[int, list[tuple[str, str]]]:
    platform = app.extensions["premia"]
    with platform_session(platform.sessions) as session:
        tenant = create_tenant(
            session,
            slug="cafe",
            name="Café Central",
            plan="white-label",
            currency="COP",
            country="CO",
            timezone="America/Bogota",
            owner_email="owner@cafe.example",
            owner_password="bench-password",
        )
        session.commit()
        tenant_id = tenant.id
    people = []
    with tenant_session(platform.sessions, tenant_id) as session:
        for n in range(members):
            member = create_member(
                session, email=f"p{n}@bench.example", actor=Actor.system(), first_name="P"
            )
            member.live_secret = live_codes.new_secret()
            people.append((member.code, member.live_secret))
        session.commit()
    return tenant_id, people


def lookups(app, tenant_id: int, people, live: bool, seconds: float) -> float:
    platform = app.extensions["premia"]
    done, stop = 0, time.perf_counter() + seconds
    with tenant_session(platform.sessions, tenant_id) as session:
        while time.perf_counter() < stop:
            code, secret = random.choice(people)
            shown = live_codes.live_code(code, secret) if live else code
            assert get_member(session, shown).code == code
            session.rollback()  # a request's transaction each
            done += 1
    return done / seconds


def passes(app, tenant_id: int, seconds: float) -> tuple[float, float]:
    from plugins.wallet import apple, config

    app.config.update(make_keys(Path(tempfile.mkdtemp())))
    platform = app.extensions["premia"]
    rates = []
    with app.test_request_context(), tenant_session(platform.sessions, tenant_id) as session:
        from tenants.models import Tenant

        tenant = session.get(Tenant, tenant_id)
        member = session.query(Membership).first()
        apple_keys = config.apple()
        for signed in (True, False):
            done, stop = 0, time.perf_counter() + seconds
            while time.perf_counter() < stop:
                if signed:
                    apple.build_pass(tenant, member, apple_keys)
                else:
                    files = {"pass.json": b"{}", **apple.images(tenant)}
                    with zipfile.ZipFile(io.BytesIO(), "w", zipfile.ZIP_DEFLATED) as archive:
                        for name, data in files.items():
                            archive.writestr(name, data)
                done += 1
            rates.append(done / seconds)
    return rates[0], rates[1]


def make_keys(folder: Path) -> dict[str, str]:
    from cryptography.hazmat.primitives import serialization

    from tests.plugins.wallet import conftest as made

    root_key, wwdr_key, pass_key = made._key(), made._key(), made._key()
    wwdr = made._certificate("WWDR", wwdr_key, "Root", root_key, ca=True)
    cert = made._certificate("Pass", pass_key, "WWDR", wwdr_key, ca=False)
    (folder / "wwdr.pem").write_bytes(made._pem(wwdr))
    (folder / "pass.pem").write_bytes(made._pem(cert))
    (folder / "key.pem").write_bytes(
        pass_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return {
        "PREMIA_WALLET_APPLE_PASS_TYPE_ID": "pass.example.bench",
        "PREMIA_WALLET_APPLE_TEAM_ID": "TEAM",
        "PREMIA_WALLET_APPLE_CERTIFICATE": str(folder / "pass.pem"),
        "PREMIA_WALLET_APPLE_KEY": str(folder / "key.pem"),
        "PREMIA_WALLET_APPLE_WWDR": str(folder / "wwdr.pem"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--members", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    fresh_database(args.database_url)
    app = create_app(
        {"PREMIA_DATABASE_URL": args.database_url, "PREMIA_REDIS_URL": None, "TESTING": True}
    )
    with app.app_context():
        upgrade(app)
        tenant_id, people = setup(app, args.members)
        print(f"{args.members:,} members; {args.rounds} rounds of {args.seconds:g} s each way")
        print("| round | static lookups/s | live lookups/s | live / static |")
        print("| ---: | ---: | ---: | ---: |")
        ratios = []
        for n in range(1, args.rounds + 1):
            static = lookups(app, tenant_id, people, False, args.seconds)
            live = lookups(app, tenant_id, people, True, args.seconds)
            ratios.append(live / static)
            print(f"| {n} | {static:,.0f} | {live:,.0f} | {live / static:.2f} |")
        print(f"median live / static: {statistics.median(ratios):.2f}")
        signed, unsigned = passes(app, tenant_id, args.seconds)
        print(
            f"passes/s: signed {signed:,.1f}, unsigned zip {unsigned:,.1f}, "
            f"ratio {signed / unsigned:.2f}"
        )
    app.extensions["premia"].engine.dispose()


if __name__ == "__main__":
    main()
