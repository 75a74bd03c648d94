"""The demo merchant: created once on the embedded default by `premia demo`.

A coffee shop in Bogotá with an owner, two employees, two locations, rewards,
forty customers and six weeks of purchases and redemptions, so that every
screen has something to show.
"""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from flask import Flask
from sqlalchemy import func, select

from core.host.actors import Actor
from core.host.db import clock_at, platform_session, tenant_session, utcnow
from core.host.platform import current_platform
from core.loyalty import rewards
from core.loyalty.customers import create_member
from core.loyalty.locations import create_location
from core.loyalty.members import Customer, Membership
from core.loyalty.program import update_program
from core.loyalty.purchases import record_purchase
from core.loyalty.staff import Role, create_staff
from core.web.passwords import hash_password
from tenants.models import Tenant
from tenants.services import create_tenant

SLUG = "cafe-demo"
OWNER = ("owner", "duena@cafe-demo.example", "demo-owner-2026")
# A customer of the demo with the app's password: the customer app to try at once.
CUSTOMER = ("customer", "cliente1@correo.example", "demo-cliente-2026")
# The operator console's demo account (the authenticator app is set up at its first sign-in).
OPERATOR = ("operator", "operaciones@premia-demo.example", "demo-operator-2026")
EMPLOYEES = [
    ("employee", "caja1@cafe-demo.example", "demo-caja-2026", "Laura Gómez"),
    ("admin", "admin@cafe-demo.example", "demo-admin-2026", "Andrés Núñez"),
]
FIRST = [
    "María",
    "José",
    "Camila",
    "Juan",
    "Valentina",
    "Andrés",
    "Sofía",
    "Carlos",
    "Lucía",
    "Mateo",
]
LAST = ["Rodríguez", "Gómez", "Núñez", "Martínez", "López", "García", "Peña", "Muñoz"]


def ensure_demo(app: Flask, seed: int = 7) -> list[tuple[str, str, str]]:
    """Create the demo merchant unless it exists; return the logins (role, e-mail, password)."""
    platform = app.extensions["premia"]
    logins = [OWNER[:3]] + [e[:3] for e in EMPLOYEES]
    with platform_session(platform.sessions) as session:
        tenant_id = session.scalar(select(Tenant.id).where(Tenant.slug == SLUG))
        if tenant_id is None:
            tenant_id = create_tenant(
                session,
                slug=SLUG,
                name="Café La Esquina",
                plan="white-label",
                currency="COP",
                country="CO",
                timezone="America/Bogota",
                language="es",
                owner_email=OWNER[1],
                owner_password=OWNER[2],
                owner_name="Marta Salazar",
                email="hola@cafe-demo.example",
                phone="+57 601 555 0101",
                business_type="Cafetería",
                description="Café de especialidad y panadería en Chapinero.",
            ).id
            session.get(Tenant, tenant_id).theme = "cafe"  # themes/cafe, an example brand theme
            session.commit()
    with tenant_session(platform.sessions, tenant_id) as session:
        # Filled in one transaction: a run that failed half-way left no members.
        if session.scalar(select(func.count(Membership.id))) == 0:
            _fill(session, random.Random(seed))
            session.commit()
    with platform_session(platform.sessions) as session:
        customer = session.scalar(select(Customer).where(Customer.email == CUSTOMER[1]))
        if customer is not None and customer.password_hash is None:
            customer.password_hash = hash_password(CUSTOMER[2])
            customer.email_confirmed_at = utcnow()
            session.commit()
    return logins


def ensure_operator(app: Flask) -> tuple[str, str, str]:
    """Create the demo operator unless it exists; return its login (role, e-mail, password)."""
    from core.operator.accounts import create_operator
    from core.operator.models import Operator

    with platform_session(app.extensions["premia"].sessions) as session:
        if session.scalar(select(Operator.id).where(Operator.email == OPERATOR[1])) is None:
            create_operator(session, OPERATOR[1], OPERATOR[2])
            session.commit()
    return OPERATOR


def _fill(session, rng: random.Random) -> None:
    update_program(
        session,
        {
            "points_per_amount": {"amount": "1000", "points": 1},
            "welcome_points": 20,
            "expiry_months": 12,
            "customer_redemption_requests": True,
        },
    )
    chapinero = create_location(session, name="Chapinero", address="Calle 57 # 9-21", city="Bogotá")
    usaquen = create_location(session, name="Usaquén", address="Carrera 6 # 119-10", city="Bogotá")
    staff = [
        create_staff(
            session,
            email=email,
            name=name,
            password=password,
            role=Role(role),
            location_id=chapinero.id,
        )
        for role, email, password, name in EMPLOYEES
    ]
    catalogue = [
        rewards.create_reward(
            session,
            name="Café americano",
            points=60,
            stock=None,
            description="Un americano de la casa.",
        ),
        rewards.create_reward(session, name="Croissant de almendras", points=90, stock=40),
        rewards.create_reward(session, name="Desayuno completo", points=250, stock=15),
        rewards.create_reward(session, name="Bolsa de café 250 g", points=600, stock=8),
    ]
    now = utcnow()
    for n in range(40):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        joined = now - timedelta(days=rng.randint(20, 42), hours=rng.randint(0, 10))
        with clock_at(joined):
            member = create_member(
                session,
                email=f"cliente{n + 1}@correo.example",
                first_name=first,
                last_name=last,
                document_id=str(10_000_000 + n * 7919),
                actor=Actor.system(),
            )
        visits = sorted(
            joined + timedelta(days=rng.uniform(0, (now - joined).days))
            for _ in range(rng.randint(1, 9))
        )
        for visit in visits:
            with clock_at(visit):
                record_purchase(
                    session,
                    member,
                    Decimal(rng.randrange(8_000, 95_000, 500)),
                    actor=Actor.staff(rng.choice(staff).id),
                    location_id=rng.choice([chapinero, usaquen]).id,
                    reference=f"F-{rng.randint(10000, 99999)}",
                )
        affordable = [r for r in catalogue if r.points <= member.balance and r.stock != 0]
        if affordable and rng.random() < 0.5:
            with clock_at(visits[-1] + timedelta(minutes=5)):
                rewards.redeem_reward(
                    session,
                    member,
                    rng.choice(affordable),
                    actor=Actor.staff(staff[0].id),
                    location_id=chapinero.id,
                )
    # Two requests from customers' apps, waiting for staff to confirm or cancel them.
    richest = session.scalars(
        select(Membership).order_by(Membership.balance.desc(), Membership.id).limit(2)
    )
    for hours, member in enumerate(richest, start=1):
        with clock_at(now - timedelta(hours=hours)):
            rewards.request_reward(session, member, catalogue[0])
    # The plugins' own examples (a coupon campaign…), in the same transaction.
    current_platform().plugins.ask(session, "fill_demo")
