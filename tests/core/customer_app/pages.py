"""The customer app's pages for cross-cutting tests, found from the URL map (so pages
other modules and plugins add later are covered without listing them) and by following
the links and forms of the pages themselves (to reach pages with an id in the URL).

A merchant's app is every rule under `/t/<tenant_slug>/app` (the core's `t.app_*`
endpoints and the plugins' `/app/<plugin>/` blueprints); the shared app's are the
`app_*` endpoints under `/app/` on the platform's hosts.
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

from sqlalchemy import select
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Rule

from core.host.db import Base

MERCHANT = "/t/<tenant_slug>/app"
# Rows that change by merely browsing (a session's last use), not data.
BROWSING = ("customer_sessions", "staff_sessions")
TEXT_TYPES = ("text/", "application/json", "application/manifest+json", "application/javascript")


def merchant_rules(app: Any) -> list[Rule]:
    """Every rule of a merchant's app (core and plugins)."""
    return [
        rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("t.app_")
        or rule.rule == MERCHANT
        or rule.rule.startswith(MERCHANT + "/")
    ]


def shared_rules(app: Any) -> list[Rule]:
    """Every rule of the shared app (on the platform's hosts)."""
    return [
        rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("app_") and rule.rule.startswith("/app")
    ]


def own_arguments(rule: Rule) -> set[str]:
    """The rule's arguments beyond the tenant (an id, a code) that have no default."""
    return set(rule.arguments) - {"tenant_slug"} - set(rule.defaults or {})


def id_arguments(rule: Rule) -> set[str]:
    """The rule's own arguments naming someone's data: an id, a code (not a size, a
    file name or a signed token)."""
    return {name for name in own_arguments(rule) if name.endswith(("id", "code"))}


def plain_paths(app: Any, rules: list[Rule], slug: str | None = None) -> dict[str, str]:
    """Endpoint → path of every GET rule needing no argument but the tenant's."""
    adapter = app.url_map.bind("localhost")
    found = {}
    for rule in rules:
        if "GET" in rule.methods and not own_arguments(rule):
            values = {"tenant_slug": slug} if "tenant_slug" in rule.arguments else {}
            found[rule.endpoint] = adapter.build(rule.endpoint, values)
    return found


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key: value or "" for key, value in attrs}
        if tag in ("a", "link") and values.get("href"):
            self.links.append(values["href"])
        elif tag in ("img", "script") and values.get("src"):
            self.links.append(values["src"])
        elif tag == "form":
            self.forms.append(Form(values.get("action", ""), values.get("method", "get").lower()))
        elif tag in ("input", "button", "textarea", "select") and self.forms and values.get("name"):
            self.forms[-1].fields[values["name"]] = values.get("value", "")


@dataclass
class Visit:
    path: str
    status: int
    content_type: str
    text: str | None
    forms: list[Form]


def crawl(
    client: Any, starts: list[str], *, base_url: str, within: Any, limit: int = 400
) -> dict[str, Visit]:
    """GET every page reachable from `starts` whose path `within(path)` accepts,
    following links, redirects and GET forms; POST forms are recorded, never sent."""
    seen: dict[str, Visit] = {}
    queue = deque(starts)
    while queue and len(seen) < limit:
        path = queue.popleft()
        if path in seen:
            continue
        answer = client.get(path, base_url=base_url)
        kind = answer.mimetype or ""
        text = answer.get_data(as_text=True) if kind.startswith(TEXT_TYPES) else None
        parser = _Links()
        if kind == "text/html" and text:
            parser.feed(text)
        seen[path] = Visit(path, answer.status_code, kind, text, parser.forms)
        found = list(parser.links) + [f.action or path for f in parser.forms if f.method == "get"]
        if answer.location:
            found.append(answer.location)
        for link in found:
            parts = urlsplit(urljoin(base_url + path, link))
            if parts.netloc and parts.netloc != urlsplit(base_url).netloc:
                continue
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            if within(parts.path) and target not in seen:
                queue.append(target)
    return seen


def posts(visits: dict[str, Visit], base_url: str) -> dict[str, Form]:
    """The POST forms found on the visited pages, by absolute path of their action."""
    found = {}
    for visit in visits.values():
        for form in visit.forms:
            if form.method == "post":
                found[urlsplit(urljoin(base_url + visit.path, form.action)).path] = form
    return found


def endpoint_of(app: Any, path: str, method: str = "GET") -> tuple[str, dict[str, Any]] | None:
    """The endpoint and arguments a path routes to on the platform's hosts, or None."""
    try:
        return app.url_map.bind("localhost").match(urlsplit(path).path, method=method)
    except HTTPException:
        return None


def snapshot(platform) -> str:
    """A digest of every row of every table (but browsing's own), whatever the tenant."""
    digest = hashlib.sha256()
    with platform.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name in BROWSING:
                continue
            rows = sorted(repr(tuple(row)) for row in conn.execute(select(table)))
            digest.update(f"{table.name}:{rows}".encode())
    return digest.hexdigest()
