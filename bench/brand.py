"""What a brand's look costs the customer app: the card page of a white-label merchant
whose look is saved in Marca (colours, font, icon, footer: the `brand_look` hook reads
its row, the page links its stylesheet and draws its footer) beside the same page of a
white-label merchant with the theme plugin switched off (the theme's look only), in the
same run, in-process (Flask's test client, PostgreSQL), plus the compiled stylesheet.

    python bench/brand.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_brand

Creates (or empties) the database and migrates it; one member each, signed in. Counts
each page's statements, then for `--rounds` rounds (alternating, the shared machine's
speed drifts) sends `--requests` GETs of each page and prints requests per second and
the branded page's throughput as a share of the plain one's, per round and the median.
Figures go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from flask import g
from sqlalchemy import event

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.api import fresh_database  # noqa: E402
from core.app import create_app  # noqa: E402
from core.customer_app.sessions import COOKIE, log_in  # noqa: E402
from core.host.actors import Actor  # noqa: E402
from core.host.db import platform_session, tenant_session  # noqa: E402
from core.host.migrate import upgrade  # noqa: E402
from core.loyalty.customers import create_member  # noqa: E402
from core.loyalty.members import Customer  # noqa: E402
from core.web.brand import theme_look  # noqa: E402
from plugins.theme import brands  # noqa: E402
from tenants.models import Tenant  # noqa: E402
from tenants.services import create_tenant  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_brand"
LOOK = brands.Choices(
    primary="#7c2d12",
    accent="#fde68a",
    font="lora",
    sender_name="Barrio Dulce",
    reply_to="hola@barrio.example",
    footer="© {{ year }} {{ brand }}",
    terms_url="https://barrio.example/terminos",
    privacy_url="https://barrio.example/privacidad",
)


def setup(app) -> tuple[str, str]:
    """The two merchants and their signed-in member; returns the brand's stylesheet path
    and the cookie (the same person, a member of both)."""
    platform = app.extensions["premia"]
    ids = {}
    with platform_session(platform.sessions) as session:
        for slug in ("plain", "brand"):
            tenant = create_tenant(
                session,
                slug=slug,
                name=slug.title(),
                plan="white-label",
                currency="COP",
                country="CO",
                timezone="America/Bogota",
                owner_email=f"owner@{slug}.example",
                owner_password="bench-password",
            )
            session.flush()
            ids[slug] = tenant.id
        session.commit()
    for slug, tenant_id in ids.items():
        with app.test_request_context(), tenant_session(platform.sessions, tenant_id) as session:
            tenant = session.get(Tenant, tenant_id)
            create_member(session, email="ana@bench.example", actor=Actor.system(), first_name="A")
            if slug == "plain":
                platform.plugins.switch(session, tenant, "theme", False)
            else:
                saved = brands.save(session, tenant, LOOK, theme_look(tenant).colors, {})
                css = f"/t/brand/brand/look-{saved.stylesheet_hash}.css"
            session.commit()
    with app.test_request_context(), platform_session(platform.sessions) as session:
        log_in(session, session.query(Customer).filter_by(email="ana@bench.example").one())
        cookie = g.customer_cookie
        session.commit()
    return css, cookie


def count_statements(app, client, path: str) -> int:
    engine = app.extensions["premia"].engine
    seen: list[str] = []

    def before(_conn, _cursor, sql, *_args) -> None:
        seen.append(sql)

    assert client.get(path).status_code == 200
    event.listen(engine, "before_cursor_execute", before)
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", before)
    return len(seen)


def rate(client, path: str, requests: int) -> float:
    started = time.perf_counter()
    for _ in range(requests):
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.status_code)
    return requests / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    fresh_database(args.database_url)
    # TESTING: no in-process scheduler running periodic jobs beside the measured pages.
    config = {"PREMIA_DATABASE_URL": args.database_url, "PREMIA_REDIS_URL": None, "TESTING": True}
    app = create_app(config)
    with app.app_context():
        upgrade(app)
    css, cookie = setup(app)
    client = app.test_client()
    client.set_cookie(COOKIE, cookie, domain="localhost")
    pages = {"plain card": "/t/plain/app/", "brand card": "/t/brand/app/", "stylesheet": css}
    assert "look-" in client.get("/t/brand/app/").get_data(as_text=True)
    for path in pages.values():  # warm every page first (a session's first touch writes)
        assert client.get(path).status_code == 200
    print(
        "statements per request:", {k: count_statements(app, client, p) for k, p in pages.items()}
    )
    ratios = []
    for n in range(args.rounds):
        rates = {name: rate(client, path, args.requests) for name, path in pages.items()}
        ratios.append(rates["brand card"] / rates["plain card"])
        print(
            f"round {n + 1}: "
            + ", ".join(f"{name} {value:.0f}/s" for name, value in rates.items())
            + f"; brand/plain {ratios[-1]:.3f}"
        )
    print(f"median brand/plain: {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
