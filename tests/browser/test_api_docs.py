"""The POS API's interactive documentation (Swagger UI, served by Premia itself) in a
real browser, under the app's Content-Security-Policy."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, csp_violations, shoot


def test_swagger_ui_works_under_the_content_security_policy(live_server, browser):
    context = browser.new_context(**DESKTOP)
    refused = csp_violations(context)
    page = context.new_page()
    response = page.goto(f"{live_server.url}/api/v1/docs")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    operation = page.locator(".opblock").filter(has_text="/customers").first
    expect(operation).to_be_visible(timeout=15_000)  # drawn by Swagger UI from the document
    operation.locator(".opblock-summary").click()
    page.get_by_role("button", name="Try it out").first.click()
    expect(page.get_by_role("button", name="Execute").first).to_be_visible()
    shoot(page, "api-docs")
    context.close()
    assert refused == []
