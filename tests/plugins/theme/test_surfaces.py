"""The brand's look reaches every surface its customers see, on its own domain: the
customer app and its manifest, icons and favicon, every e-mail (sender, reply-to,
colours, footer), the printable card (PDF), the survey and referral pages, and the 404
and 500 pages. Each shows the brand's colours and name, and nothing says "Premia"."""

from __future__ import annotations

import html
import io
import re
import subprocess
from email.header import decode_header, make_header

import pytest
from PIL import Image

from core.loyalty.members import Membership
from core.testing.weblogin import login, sign_in_customer
from plugins.referrals import referrals
from tests.plugins.nps.helpers import configure, mails_to, path_of, survey_links, text_of, visit
from tests.plugins.theme import failing_plugin
from tests.plugins.theme.conftest import DOMAIN, LOOK, png, save_look, stylesheet_url

BASE = f"http://{DOMAIN}"
PRIMARY = LOOK["primary"]
PLATFORM = re.compile("premia", re.I)


@pytest.fixture
def styled(manager, brand):
    """The brand with its look saved from the panel: colours, font, icon, e-mails, footer."""
    assert save_look(manager, icon=png(color="#c2410c")).status_code == 302
    return brand


@pytest.fixture
def ana(styled, make_member):
    return make_member(styled, email="ana@mail.example", first_name="Ana")


def shown(answer) -> str:
    return html.unescape(answer.get_data(as_text=True))


def assert_branded(text: str, where: str) -> None:
    assert "Barrio Dulce" in text, where
    assert PRIMARY in text, where
    assert not PLATFORM.search(text), f"{where} says {PLATFORM.search(text).group(0)}"


def test_the_customer_app_its_manifest_icons_and_footer(client, app, styled, ana):
    sign_in_customer(client, app, ana, domain=DOMAIN)
    page = shown(client.get("/app/", base_url=BASE))
    assert_branded(page, "card")
    assert "© " in page and "Barrio Dulce · Calle 5 # 10-20" in page  # the sandboxed footer
    assert 'href="https://barrio.example/terminos"' in page
    assert 'href="https://barrio.example/privacidad"' in page
    assert "Términos y condiciones" in page and "Política de privacidad" in page
    css = client.get(stylesheet_url(page), base_url=BASE)
    assert css.status_code == 200 and f"--primary:{PRIMARY}" in css.get_data(as_text=True)
    # The manifest: the brand's name and colour; its icons drawn from the square app icon.
    manifest = client.get("/app/manifest.webmanifest", base_url=BASE).get_json()
    assert manifest["name"] == "Barrio Dulce" and manifest["theme_color"] == PRIMARY
    assert not PLATFORM.search(str(manifest))
    for icon in manifest["icons"]:
        drawn = Image.open(io.BytesIO(client.get(icon["src"], base_url=BASE).data)).convert("RGB")
        assert drawn.getpixel((drawn.width // 2, drawn.height // 2)) == (194, 65, 12)
    # The favicon too, in the sizes browsers ask for; never the platform's.
    favicons = re.findall(
        r'<link rel="icon" type="image/png" sizes="(\d+)x\d+" href="([^"]+)"', page
    )
    assert {size for size, _ in favicons} == {"32", "96"}
    for size, url in favicons:
        drawn = Image.open(io.BytesIO(client.get(url, base_url=BASE).data))
        assert drawn.size == (int(size), int(size))
    assert "favicon.svg" not in page
    # The service worker caches the brand's stylesheet with the app shell.
    worker = client.get("/app/sw.js", base_url=BASE).get_data(as_text=True)
    assert stylesheet_url(page).replace("/", "\\/") in worker or stylesheet_url(page) in worker


def test_every_e_mail_comes_from_the_brand_in_its_look(app, db, styled, ana, smtp_server):
    configure(db, styled, earn_bonus=20)
    visit(db, styled, ana, points=50)
    mails = mails_to(smtp_server, "ana@mail.example", 2)  # welcome, points received
    for mail in mails:
        sender = str(make_header(decode_header(mail["From"])))
        assert sender == "Barrio Dulce Panadería <no-reply@localhost>"
        assert mail["Reply-To"] == "clientes@barrio.example"
        body = mail.as_string()
        assert not PLATFORM.search(mail["Subject"]) and not PLATFORM.search(body)
        html_part = next(p for p in mail.walk() if p.get_content_type() == "text/html")
        rendered = html_part.get_payload(decode=True).decode()
        assert_branded(html.unescape(rendered), mail["Subject"])
        assert "https://barrio.example/privacidad" in rendered
        assert "Barrio Dulce · Calle 5 # 10-20" in text_of(mail)  # the plain part's footer
    # The survey page its link opens, on the brand's domain, in the brand's look.
    [link] = survey_links(mails[1])
    assert link.startswith(f"https://{DOMAIN}/")
    page = shown(app.test_client().get(path_of(link), base_url=BASE))
    assert_branded(page, "survey page")
    assert "/brand/look-" in page


def test_every_mail_template_draws_the_brands_colours_and_name(app, db, styled, ana):
    """Every mail (the themes' and the plugins'), rendered for the brand in each language,
    wears its colour and name and never says Premia (`tests/core/customer_app/test_brand`
    renders them all for the name alone)."""
    from flask import g

    from core.web.mail import render_mail
    from tests.core.customer_app.test_brand import LANGUAGES, _context, _mail_templates

    # The platform operators' mail (a brand's domain failing) is the platform's own.
    names = [name for name in _mail_templates(app) if name != "mail/domain_operator"]
    assert len(names) >= 19 and "notifications/mail/welcome" in names
    with db(styled) as session:
        member = session.get(Membership, ana.id)
        for name in names:
            for language in LANGUAGES:
                with app.test_request_context(base_url=BASE):
                    g.db = session
                    context = _context(app, name, styled, member)
                    subject, text, drawn = render_mail(styled, name, language, **context)
                assert_branded(html.unescape(drawn), f"{name} ({language})")
                assert not PLATFORM.search(subject + text), f"{name} ({language})"


def test_the_referral_pages(client, app, db, styled, ana):
    sign_in_customer(client, app, ana, domain=DOMAIN)
    page = shown(client.get("/app/referrals/", base_url=BASE))
    assert_branded(page, "invite page")
    with db(styled) as session:
        code = referrals.invite_code(session, session.get(Membership, ana.id))
        session.commit()
    landing = shown(app.test_client().get(f"/app/referrals/i/{code}", base_url=BASE))
    assert_branded(landing, "referral landing")


def test_the_printable_card(manager, styled, ana, tmp_path):
    answer = manager.get(f"/t/barrio/panel/customers/{ana.code}/card.pdf")
    assert answer.status_code == 200 and answer.data.startswith(b"%PDF")
    pdf = tmp_path / "card.pdf"
    pdf.write_bytes(answer.data)
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    assert "Barrio Dulce" in text and ana.code in text and not PLATFORM.search(text)
    # The band behind the brand's name is the brand's colour (rendered page, pixel read).
    subprocess.run(
        ["pdftoppm", "-png", "-r", "100", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "p")],
        check=True,
    )
    [image] = tmp_path.glob("p*.png")
    colours = {pixel for _, pixel in Image.open(image).convert("RGB").getcolors(1_000_000)}
    assert (0x7C, 0x2D, 0x12) in colours


def test_404_and_500_on_the_brands_domain(
    client, app, db, styled, make_app, make_plan, make_tenant
):
    missing = client.get("/app/no-such-page", base_url=BASE)
    assert missing.status_code == 404
    assert_branded(shown(missing), "app 404")
    elsewhere = client.get("/no-such-page", base_url=BASE)
    assert elsewhere.status_code == 404
    assert_branded(shown(elsewhere), "404")
    # A page that fails: the 500 page in the brand's look.
    failing = make_app(PROPAGATE_EXCEPTIONS=False, PREMIA_EXTRA_PLUGINS=[failing_plugin])
    make_plan("everything", {"theme", "failing"})
    other = make_tenant(
        "taller", name="Taller Azul", plan="everything", domain="app.taller.example"
    )
    owner = failing.test_client()
    login(owner, db, other)
    assert save_look(owner, slug="taller", primary="#1e3a8a").status_code == 302
    broken = failing.test_client().get("/app/failing/", base_url="http://app.taller.example")
    assert broken.status_code == 500
    page = shown(broken)
    assert "Taller Azul" in page and "#1e3a8a" in page and not PLATFORM.search(page)


def test_a_coupon_sheet_is_printed_in_the_brands_colours(app, styled, tmp_path):
    from flask import g

    from plugins.coupons import sheets

    with app.test_request_context(base_url=BASE):
        g.tenant = styled
        out = io.BytesIO()
        item = sheets.Item(url=f"{BASE}/app/coupon/ABCDE23456", code="ABCDE23456", points=150)
        assert sheets.write_pdf(styled, sheets.LAYOUTS["poster"], [item], out) == 1
    pdf = tmp_path / "sheet.pdf"
    pdf.write_bytes(out.getvalue())
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    assert "150" in text and "Barrio Dulce" in text and not PLATFORM.search(text)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "100", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "s")],
        check=True,
    )
    [image] = tmp_path.glob("s*.png")
    colours = {pixel for _, pixel in Image.open(image).convert("RGB").getcolors(1_000_000)}
    assert (0x7C, 0x2D, 0x12) in colours  # the points, in the brand's primary colour
