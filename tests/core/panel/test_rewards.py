"""Recompensas: managers create, edit, switch off rewards with an image; nobody else."""

from __future__ import annotations

import html
import struct
import zlib

import pytest
from sqlalchemy import select

from core.loyalty.rewards import Reward, create_reward
from core.loyalty.staff import Role
from core.panel import rewards as rewards_panel
from core.testing.weblogin import flashes, login, token
from tests.core.panel.managing import png, upload


@pytest.fixture(autouse=True)
def upload_folder(app, tmp_path):
    app.config["PREMIA_UPLOAD_FOLDER"] = str(tmp_path)
    return tmp_path


def _rewards(db, tenant):
    with db(tenant) as session:
        return session.scalars(select(Reward).order_by(Reward.id)).all()


def test_owner_creates_a_reward_with_its_image_and_customers_can_fetch_it(
    client, make_tenant, db, upload_folder
):
    shop = make_tenant()
    login(client, db, shop)
    base = f"/t/{shop.slug}/panel/rewards"
    answer = client.post(
        f"{base}/new",
        data={
            "csrf_token": token(client, f"{base}/new"),
            "name": " Café americano ",
            "description": "Un café de la casa",
            "points": "120",
            "stock": "30",
            "active": "y",
            "image": upload(png()),
        },
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    page = answer.get_data(as_text=True)
    assert ("success", "Recompensa “Café americano” creada.") in flashes(page)
    [reward] = _rewards(db, shop)
    assert (reward.name, reward.points, reward.stock, reward.active) == (
        "Café americano",
        120,
        30,
        True,
    )
    assert reward.image and reward.image.endswith(".png")
    stored = upload_folder / str(shop.id) / reward.image
    assert stored.read_bytes() == png()
    served = client.get(f"/t/{shop.slug}/uploads/{reward.image}")
    assert served.status_code == 200 and served.data == png()
    assert served.headers["Content-Type"] == "image/png"
    assert "120" in page and "Café americano" in page


def test_an_image_is_judged_by_its_content_and_size(client, make_tenant, db, app, upload_folder):
    shop = make_tenant()
    login(client, db, shop)
    url = f"/t/{shop.slug}/panel/rewards/new"
    fake = client.post(
        url,
        data={
            "csrf_token": token(client, url),
            "name": "Postre",
            "points": "50",
            "image": upload(b"<script>alert(1)</script> not an image", "postre.png"),
        },
        content_type="multipart/form-data",
    )
    assert fake.status_code == 200
    assert "Sube una imagen PNG, JPEG, GIF o WebP." in html.unescape(fake.get_data(as_text=True))
    app.config["PREMIA_MAX_IMAGE_BYTES"] = 100
    big = client.post(
        url,
        data={
            "csrf_token": token(client, url),
            "name": "Postre",
            "points": "50",
            "image": upload(png(40, 40) + b"\0" * 200),
        },
        content_type="multipart/form-data",
    )
    assert "no puede pesar más de" in html.unescape(big.get_data(as_text=True))
    assert _rewards(db, shop) == []
    assert not any(upload_folder.rglob("*.*"))  # nothing kept of refused files


def test_an_upload_over_the_request_limit_gets_a_clear_page(
    client, make_tenant, db, app, upload_folder
):
    shop = make_tenant()
    login(client, db, shop)
    url = f"/t/{shop.slug}/panel/rewards/new"
    csrf = token(client, url)
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    answer = client.post(
        url,
        data={
            "csrf_token": csrf,
            "name": "Postre",
            "points": "50",
            "image": upload(png(40, 40) + b"\0" * (1024 * 1024)),
        },
        content_type="multipart/form-data",
    )
    assert answer.status_code == 413
    assert "La solicitud es demasiado grande: envía como máximo 1 MB." in html.unescape(
        answer.get_data(as_text=True)
    )
    assert _rewards(db, shop) == []


def test_an_image_is_capped_in_pixels_too(client, make_tenant, db, app, upload_folder):
    shop = make_tenant()
    login(client, db, shop)
    url = f"/t/{shop.slug}/panel/rewards/new"

    def post(image: bytes):
        return html.unescape(
            client.post(
                url,
                data={
                    "csrf_token": token(client, url),
                    "name": "Postre",
                    "points": "50",
                    "image": upload(image),
                },
                content_type="multipart/form-data",
            ).get_data(as_text=True)
        )

    # A header claiming 50,000 × 50,000 pixels, in a file of a few bytes.
    header = b"IHDR" + struct.pack(">IIBBBBB", 50_000, 50_000, 8, 2, 0, 0, 0)
    bomb = png(1, 1).replace(
        png(1, 1)[12:33], header + struct.pack(">I", zlib.crc32(header) & 0xFFFFFFFF), 1
    )
    assert "La imagen no puede tener más de 40 megapíxeles." in post(bomb)
    app.config["PREMIA_MAX_IMAGE_PIXELS"] = 300
    assert "La imagen no puede tener más de 0.0003 megapíxeles." in post(png(20, 20))
    assert _rewards(db, shop) == []
    post(png(10, 10))  # 100 pixels: taken
    assert [reward.name for reward in _rewards(db, shop)] == ["Postre"]


def test_bad_input_is_shown_on_the_form_and_nothing_is_saved(client, make_tenant, db):
    shop = make_tenant()
    login(client, db, shop)
    url = f"/t/{shop.slug}/panel/rewards/new"
    answer = client.post(
        url, data={"csrf_token": token(client, url), "name": "  ", "points": "0", "stock": "-1"}
    )
    page = html.unescape(answer.get_data(as_text=True))
    assert "El nombre es obligatorio." in page
    assert "Los puntos deben ser un número entero mayor que cero." in page
    assert "El inventario debe ser cero o más (déjalo vacío para que sea ilimitado)." in page
    words = client.post(
        url, data={"csrf_token": token(client, url), "name": "Té", "points": "100", "stock": "diez"}
    )
    assert "Escribe un número entero." in html.unescape(words.get_data(as_text=True))
    assert _rewards(db, shop) == []


def test_an_unexpected_failure_keeps_no_file_behind(
    client, make_tenant, db, upload_folder, monkeypatch
):
    shop = make_tenant()
    login(client, db, shop)
    url = f"/t/{shop.slug}/panel/rewards/new"
    form = {
        "csrf_token": token(client, url),
        "name": "Postre",
        "points": "50",
        "image": upload(png()),
    }

    def database_gone(session, **fields):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(rewards_panel, "create_reward", database_gone)
    with pytest.raises(RuntimeError):  # TESTING: the error reaches the test, not a 500 page
        client.post(url, data=form, content_type="multipart/form-data")
    assert _rewards(db, shop) == []
    assert not any(upload_folder.rglob("*.*"))


def test_edit_changes_points_stock_and_replaces_the_image(client, make_tenant, db, upload_folder):
    shop = make_tenant()
    with db(shop) as session:
        reward_id = create_reward(session, name="Torta", points=300, stock=5).id
        session.commit()
    login(client, db, shop)
    url = f"/t/{shop.slug}/panel/rewards/{reward_id}"
    client.post(
        url,
        data={
            "csrf_token": token(client, url),
            "name": "Torta de chocolate",
            "points": "350",
            "stock": "",
            "active": "y",
            "image": upload(png()),
        },
        content_type="multipart/form-data",
    )
    [reward] = _rewards(db, shop)
    assert (reward.name, reward.points, reward.stock) == ("Torta de chocolate", 350, None)
    first = reward.image
    client.post(
        url,
        data={
            "csrf_token": token(client, url),
            "name": "Torta de chocolate",
            "points": "350",
            "active": "y",
            "image": upload(png(3, 3)),
        },
        content_type="multipart/form-data",
    )
    [reward] = _rewards(db, shop)
    assert reward.image != first
    assert not (upload_folder / str(shop.id) / first).exists()  # the old file is gone
    client.post(
        url,
        data={
            "csrf_token": token(client, url),
            "name": "Torta de chocolate",
            "points": "350",
            "active": "y",
            "remove_image": "y",
        },
    )
    assert _rewards(db, shop)[0].image is None


def test_deactivate_and_activate(client, make_tenant, db):
    shop = make_tenant()
    with db(shop) as session:
        reward_id = create_reward(session, name="Jugo", points=80).id
        session.commit()
    login(client, db, shop)
    index = f"/t/{shop.slug}/panel/rewards/"
    off = client.post(
        f"/t/{shop.slug}/panel/rewards/{reward_id}/active",
        data={"csrf_token": token(client, index)},
        follow_redirects=True,
    )
    assert ("success", "Recompensa “Jugo” desactivada.") in flashes(off.get_data(as_text=True))
    assert _rewards(db, shop)[0].active is False
    client.post(
        f"/t/{shop.slug}/panel/rewards/{reward_id}/active",
        data={"csrf_token": token(client, index)},
    )
    assert _rewards(db, shop)[0].active is True


def test_employees_get_403_and_strangers_the_login(client, make_tenant, db):
    shop = make_tenant()
    with db(shop) as session:
        reward_id = create_reward(session, name="Jugo", points=80).id
        session.commit()
    base = f"/t/{shop.slug}/panel/rewards"
    assert client.get(f"{base}/").status_code == 302
    login(client, db, shop, Role.EMPLOYEE)
    for url in (f"{base}/", f"{base}/new", f"{base}/{reward_id}"):
        assert client.get(url).status_code == 403
    assert client.post(f"{base}/{reward_id}/active").status_code in (400, 403)
    assert _rewards(db, shop)[0].active is True


def test_another_merchants_reward_and_image_are_not_found(client, make_tenant, db, upload_folder):
    shop, other = make_tenant(), make_tenant()
    login(client, db, other)
    url = f"/t/{other.slug}/panel/rewards/new"
    client.post(
        url,
        data={
            "csrf_token": token(client, url),
            "name": "Suyo",
            "points": "10",
            "active": "y",
            "image": upload(png()),
        },
        content_type="multipart/form-data",
    )
    [theirs] = _rewards(db, other)
    client.post(f"/t/{other.slug}/logout", data={"csrf_token": token(client, url)})
    login(client, db, shop)
    base = f"/t/{shop.slug}/panel/rewards"
    csrf = token(client, f"{base}/")
    assert client.get(f"{base}/{theirs.id}").status_code == 404
    assert (
        client.post(
            f"{base}/{theirs.id}",
            data={"csrf_token": csrf, "name": "Mío", "points": "1", "active": "y"},
        ).status_code
        == 404
    )
    assert client.post(f"{base}/{theirs.id}/active", data={"csrf_token": csrf}).status_code == 404
    assert client.get(f"{base}/{2**40}").status_code == 404
    assert client.get(f"/t/{shop.slug}/uploads/{theirs.image}").status_code == 404
    assert client.get(f"/t/{shop.slug}/uploads/..%2f{other.id}%2f{theirs.image}").status_code == 404
    [after] = _rewards(db, other)
    assert (after.name, after.points, after.active) == ("Suyo", 10, True)


def test_without_pillow_the_magic_bytes_decide(app, monkeypatch):
    from core.web import uploads

    monkeypatch.setattr(uploads, "Image", None)
    assert uploads.image_kind(png()) == "png"
    assert uploads.image_kind(b"\xff\xd8\xff\xe0rest") == "jpg"
    assert uploads.image_kind(b"RIFF\0\0\0\0WEBPVP8 ") == "webp"
    assert uploads.image_kind(b"<svg xmlns='http://www.w3.org/2000/svg'/>") is None
    assert uploads.image_kind(b"PNG but text") is None


def test_pillow_refuses_a_png_header_on_a_text_body(app):
    from core.web import uploads

    assert uploads.Image is not None  # the installation the suite runs on has Pillow
    assert uploads.image_kind(b"\x89PNG\r\n\x1a\n and then just text") is None
    assert uploads.image_kind(png()[:-20]) is None  # truncated
