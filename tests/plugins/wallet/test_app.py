"""The wallets in the app: Ana, a member of Café Central, finds "Agregar a mi billetera"
in its app's menu and both buttons on the page; signed out, she is sent to sign in.
Another merchant's app (La Espiga, same plan) where she is no member gives her no pass
(its links lead to its card, which offers to join) and shows her no menu entry; Bruno,
La Espiga's member, gets his own pass there, never hers. Without keys configured nothing
is offered: no menu entry, the passes' links lead to the page, which says so. In English
and Portuguese the page is complete."""

from __future__ import annotations

import html
import io
import json
import zipfile

import pytest

from core.testing.factories import FreshContextClient
from core.testing.weblogin import sign_in_customer

ROUTES = ("/app/wallet/", "/app/wallet/card.pkpass", "/app/wallet/google")


def text_of(answer) -> str:
    return html.unescape(answer.get_data(as_text=True))


def landing(client, path: str):
    """Where following `path`'s redirects ends (each request in its own context, as
    separate requests from a phone are)."""
    answer = client.get(path)
    while answer.status_code == 302:
        path = answer.headers["Location"]
        answer = client.get(path)
    return path, answer


def test_the_menu_and_the_page_offer_both_wallets(client, app, ana):
    sign_in_customer(client, app, ana)
    card = text_of(client.get("/t/cafe/app/"))
    assert 'href="/t/cafe/app/wallet/"' in card and "Agregar a mi billetera" in card
    page = text_of(client.get("/t/cafe/app/wallet/"))
    assert 'href="/t/cafe/app/wallet/card.pkpass"' in page and "Agregar a Apple Wallet" in page
    assert 'href="/t/cafe/app/wallet/google"' in page and "Guardar en Google Wallet" in page


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("en", ("Add to my wallet", "Add to Apple Wallet", "Save to Google Wallet")),
        (
            "pt_BR",
            ("Adicionar à minha carteira", "Adicionar à Apple Wallet", "Salvar no Google Wallet"),
        ),
    ],
)
def test_the_page_speaks_the_persons_language(client, app, ana, db, platform, language, words):
    from core.host.db import platform_session
    from core.loyalty.members import Customer

    with platform_session(platform.sessions) as session:
        session.get(Customer, ana.customer_id).language = language
        session.commit()
    sign_in_customer(client, app, ana)
    page = text_of(client.get("/t/cafe/app/wallet/"))
    for word in words:
        assert word in page


def test_signed_out_is_sent_to_sign_in(client, ana):
    for route in ROUTES:
        answer = client.get("/t/cafe" + route)
        assert answer.status_code == 302 and "/login" in answer.headers["Location"], route


def test_another_merchants_app_gives_no_pass_of_hers(client, app, ana, make_tenant, make_member):
    espiga = make_tenant("espiga", name="La Espiga", plan="white-label")
    bruno = make_member(espiga, "bruno@mail.example", first_name="Bruno")
    sign_in_customer(client, app, ana)
    for route in ROUTES:
        path, answer = landing(client, "/t/espiga" + route)
        assert path == "/t/espiga/app/", route  # the card: join
        assert ana.code not in text_of(answer) and b"PK" not in answer.data[:2]
    assert "/t/espiga/app/wallet/" not in text_of(client.get("/t/espiga/app/"))
    other = app.test_client()
    sign_in_customer(other, app, bruno)
    archive = zipfile.ZipFile(io.BytesIO(other.get("/t/espiga/app/wallet/card.pkpass").data))
    data = json.loads(archive.read("pass.json"))
    assert data["barcodes"][0]["message"] == bruno.code != ana.code
    assert data["organizationName"] == "La Espiga"


def test_without_keys_nothing_is_offered(make_app, ana):
    bare = make_app()  # no PREMIA_WALLET_* in the test's environment
    bare.test_client_class = FreshContextClient
    client = bare.test_client()
    sign_in_customer(client, bare, ana)
    assert "/app/wallet/" not in text_of(client.get("/t/cafe/app/"))
    for route in ROUTES:
        path, answer = landing(client, "/t/cafe" + route)
        assert path == "/t/cafe/app/wallet/", route
        page = text_of(answer)
        assert "Los pases para billeteras aún no están disponibles aquí." in page
        assert "Apple Wallet" not in page and "Google Wallet" not in page
