"""Which tenant a request is for: `/t/<slug>/` on the shared app, or the brand's own domain."""

from __future__ import annotations

import re

import pytest

from core.testing.factories import PASSWORD
from tenants.resolver import DomainMiddleware, current_tenant

BRAND = "puntos.marca.example"


@pytest.fixture
def client(make_app):
    # An app of its own: each request then gets its own app context (and `g`).
    return make_app().test_client()


@pytest.fixture
def brand(make_tenant):
    return make_tenant(
        "marca",
        name="Marca Propia",
        domain=BRAND,
        plan="white-label",
        owner_email="duena@marca.example",
    )


@pytest.fixture
def lookups(monkeypatch):
    """The hosts the middleware looks up as a tenant's domain."""
    seen: list[str] = []
    original = DomainMiddleware._slug_for

    def spy(self, host):
        seen.append(host)
        return original(self, host)

    monkeypatch.setattr(DomainMiddleware, "_slug_for", spy)
    return seen


def test_a_tenant_is_served_under_its_slug(make_tenant, client):
    make_tenant("tienda", name="Tienda Uno")
    page = client.get("/t/tienda/login")
    assert page.status_code == 200
    assert "Tienda Uno" in page.get_data(as_text=True)


def test_unknown_slug_is_404(make_tenant, client):
    make_tenant("tienda")
    assert client.get("/t/no-such-shop/login").status_code == 404
    assert client.get("/t/no-such-shop/panel/").status_code == 404
    assert client.get("/t/TIENDA/login").status_code == 404  # slugs are lower-case


def test_the_brand_domain_serves_its_tenant(brand, make_tenant, client):
    make_tenant("otra", name="Otra Tienda")
    page = client.get("/login", base_url=f"http://{BRAND}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Marca Propia" in text and "Otra Tienda" not in text


@pytest.mark.parametrize("host", [f"{BRAND}:8443", "PUNTOS.Marca.EXAMPLE"])
def test_the_brand_domain_ignores_port_and_case(brand, client, host):
    page = client.get("/login", base_url=f"http://{host}")
    assert page.status_code == 200
    assert "Marca Propia" in page.get_data(as_text=True)


def test_staff_log_in_on_the_brand_domain(brand, client):
    base = f"http://{BRAND}"
    page = client.get("/login", base_url=base).get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = client.post(
        "/login",
        base_url=base,
        data={
            "email": "duena@marca.example",
            "password": PASSWORD,
            "csrf_token": token,
        },
    )
    assert response.status_code == 302
    panel = client.get(response.location, base_url=base)
    assert panel.status_code == 200
    assert "Marca Propia" in panel.get_data(as_text=True)


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/login",
        "/t/marca/login",
        "/signup/",
        "/themes/default/static/premia.css",
        "/api/v1/openapi.json",
    ],
)
def test_an_unknown_host_is_refused(brand, client, lookups, path):
    response = client.get(path, base_url="http://desconocido.example")
    assert response.status_code == 400
    assert lookups == ["desconocido.example"]
    assert response.headers["X-Frame-Options"] == "DENY"  # made before Flask, headers too


def test_an_unknown_host_is_refused_in_the_apis_error_format(brand, client):
    response = client.get("/api/v1/customers", base_url="http://desconocido.example")
    assert response.status_code == 400
    assert response.get_json() == {
        "status": 400,
        "reason": "unknown_host",
        "message": "Unknown host.",
    }


def test_a_forwarded_unknown_host_is_refused_behind_a_proxy(brand, make_app):
    client = make_app(PREMIA_PROXIES=1).test_client()
    forged = {"X-Forwarded-Host": "evil.example"}
    assert client.get("/t/marca/login", headers=forged).status_code == 400
    brand_host = {"X-Forwarded-Host": BRAND}
    page = client.get("/login", headers=brand_host)
    assert page.status_code == 200 and "Marca Propia" in page.get_data(as_text=True)


def test_health_answers_whatever_the_host(client):
    # Load balancers probe by address or their own name.
    assert client.get("/healthz", base_url="http://10.0.0.7:8000").status_code == 200


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "localhost:5000"])
def test_platform_hosts_are_not_looked_up(brand, client, lookups, host):
    assert client.get("/login", base_url=f"http://{host}").status_code == 404
    assert client.get("/t/marca/login", base_url=f"http://{host}").status_code == 200
    assert lookups == []


def test_platform_paths_are_served_on_a_brand_domain(brand, client, lookups):
    base = f"http://{BRAND}"
    health = client.get("/healthz", base_url=base)
    assert health.status_code == 200 and health.get_json()["status"] == "ok"
    assert lookups == []  # health is served whatever the host
    css = client.get("/themes/default/static/premia.css", base_url=base)
    assert css.status_code == 200 and b"--primary" in css.data
    assert lookups == [BRAND]  # the host is checked, the path is the platform's


def test_a_brand_domain_serves_that_brand_alone(brand, make_tenant, client, lookups):
    other = make_tenant(slug="otra", name="Otra Tienda")
    base = f"http://{BRAND}"
    own = client.get("/t/marca/login", base_url=base)
    assert own.status_code == 200 and "Marca Propia" in own.get_data(as_text=True)
    assert client.get(f"/t/{other.slug}/login", base_url=base).status_code == 404
    assert client.get(f"/t/{other.slug}/login").status_code == 200  # on the shared app


def test_platform_hosts_come_from_the_configuration(brand, make_app, lookups):
    client = make_app(PREMIA_PLATFORM_HOSTS=["premia.example"]).test_client()
    assert client.get("/login", base_url="http://premia.example").status_code == 404
    assert lookups == []
    # localhost is now just another host, looked up (and unknown)
    assert client.get("/t/marca/login", base_url="http://localhost").status_code == 400
    assert lookups == ["localhost"]


@pytest.mark.parametrize("slug", ["tienda", "otra"])
def test_current_tenant_is_the_one_the_request_resolved(make_tenant, make_app, slug):
    make_tenant("tienda")
    make_tenant("otra")
    app = make_app()
    with app.test_request_context(f"/t/{slug}/login"):
        app.preprocess_request()
        assert current_tenant().slug == slug


def test_a_brands_domain_shows_its_pages_at_its_root(brand, client):
    """Links and redirects built on a brand's domain leave out `/t/<slug>/`, which the
    domain serves at its root; the same pages on the shared app keep it."""
    base = f"http://{BRAND}"
    page = client.get("/login", base_url=base).get_data(as_text=True)
    assert "/t/marca/" not in page
    assert client.get("/", base_url=base).location == "/app/"
    assert client.get("/t/marca/", base_url=base).location == "/app/"  # the long way too
    assert client.get("/t/marca/").location == "/t/marca/app/"


def test_brand_url_leaves_other_paths_alone(brand, app):
    from tenants.resolver import DOMAIN_SLUG, brand_url

    with app.test_request_context("/t/marca/app/", environ_base={DOMAIN_SLUG: "marca"}):
        assert brand_url("/t/marca/app/x?y=1") == "/app/x?y=1"
        assert brand_url("/t/marca") == "/"
        assert brand_url("http://puntos.marca.example/t/marca/panel/") == (
            "http://puntos.marca.example/panel/"
        )
        assert brand_url("/t/marcas/app/") == "/t/marcas/app/"  # another slug's prefix
        assert brand_url("/themes/default/static/app.css") == "/themes/default/static/app.css"
    with app.test_request_context("/t/marca/app/"):
        assert brand_url("/t/marca/app/") == "/t/marca/app/"
