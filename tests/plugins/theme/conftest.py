"""A white-label brand on its own domain, its owner signed in, and a way to save its look
through Configuración → Marca as its managers do."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from core.testing.weblogin import csrf_token, login

DOMAIN = "puntos.barrio.example"


@pytest.fixture
def brand(make_tenant):
    return make_tenant(
        "barrio",
        name="Barrio Dulce",
        plan="white-label",
        domain=DOMAIN,
        email="hola@barrio.example",
    )


@pytest.fixture
def manager(client, db, brand):
    login(client, db, brand)
    return client


def png(width: int = 512, height: int = 512, color: str = "#c2410c") -> io.BytesIO:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    out.seek(0)
    return out


LOOK = {
    "primary": "#7c2d12",
    "accent": "#fde68a",
    "font": "lora",
    "sender_name": "Barrio Dulce Panadería",
    "reply_to": "clientes@barrio.example",
    "footer": "© {{ year }} {{ brand }} · Calle 5 # 10-20",
    "terms_url": "https://barrio.example/terminos",
    "privacy_url": "https://barrio.example/privacidad",
}


def save_look(client, slug: str = "barrio", action: str = "save", icon=None, **changes):
    """Post the Marca form as a manager would; returns the answer."""
    url = f"/t/{slug}/panel/brand/"
    token = csrf_token(client.get(url).get_data(as_text=True))
    data = {**LOOK, **changes, "csrf_token": token, "action": action}
    if icon is not None:
        data["image"] = (icon, "icon.png")
    return client.post(url, data=data, content_type="multipart/form-data")


def stylesheet_url(page: str) -> str:
    return re.search(r'href="([^"]*/brand/look-[0-9a-f]{16}\.css)"', page).group(1)
