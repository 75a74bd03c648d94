"""A brand's own template: the footer under its app pages and e-mails, written in the
panel with a few placeholders ({{ brand }}, {{ year }}, {{ terms_url }}, {{ privacy_url }}).

It is the one template a brand writes, and it is rendered apart from the app's: in
Jinja's immutable sandbox, from a fresh environment with no globals (no `config`,
`request`, `url_for`, `g`), with plain strings and a number as its only context, HTML
escaped, and its output capped. In the sandbox a template cannot reach attributes that
start with "_" (so no `__class__`/`__globals__` walk to Python), call methods that change
data, or import anything; what it tries is refused when the brand saves it, with the
reason shown on the form. The platform's theme folders (`themes/`) are trusted files
written by hand; brands never upload template files.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Any

from flask_babel import lazy_gettext as _l
from jinja2 import TemplateError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from core.sdk import InvalidInput

MAX_SOURCE = 2000
MAX_OUTPUT = 4000
PLACEHOLDERS = ("brand", "year", "terms_url", "privacy_url")

_sandbox = ImmutableSandboxedEnvironment(autoescape=True)
_sandbox.globals.clear()  # not even range(), dict() or lipsum()


# Tags that would reach other templates (and through them the app's globals).
ALLOWED_NODES = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Name,
    nodes.Const,
    nodes.If,
    nodes.Not,
    nodes.And,
    nodes.Or,
    nodes.Compare,
    nodes.Operand,
)
REFUSED_NODES = (nodes.Import, nodes.FromImport, nodes.Include, nodes.Extends, nodes.Call)


def _refusal(tree: nodes.Template) -> str | None:
    """Why the parsed footer may not be drawn, checked before the sandbox runs it: only
    the placeholders as names, no attribute or key starting with "_", no call, no other
    template. (The sandbox would draw most of these as nothing; refusing them tells the
    brand why its footer does not show what it wrote.)"""
    unknown = meta.find_undeclared_variables(tree) - set(PLACEHOLDERS)
    unknown |= {n.name for n in tree.find_all(nodes.Name) if n.name in ("self", "loop")}
    if unknown:
        return str(_l("unknown name %(name)s", name=", ".join(sorted(unknown))))
    # Only text, the placeholders, conditions on them and their comparisons: no filter
    # (`|safe` would let HTML through), no arithmetic or loop (`brand*10**7`, nested
    # loops: a footer drawn on every page must cost nothing).
    for node in tree.find_all(nodes.Node):
        if not isinstance(node, ALLOWED_NODES):
            return str(_l("only the placeholders may be used"))
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, *REFUSED_NODES)):
        if isinstance(node, REFUSED_NODES):
            return str(_l("only the placeholders may be used"))
        key = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", "_")
        if not isinstance(key, str | int) or str(key).startswith("_"):
            return str(_l("only the placeholders may be used"))
    return None


@lru_cache(maxsize=256)  # pages draw it on every request: compiled once per text
def _compiled(source: str) -> Any:
    reason = _refusal(_sandbox.parse(source))
    if reason is not None:
        raise TemplateError(reason)
    return _sandbox.from_string(source)


def _context(brand: str, terms_url: str | None, privacy_url: str | None) -> dict[str, Any]:
    return {
        "brand": brand,
        "year": date.today().year,
        "terms_url": terms_url or "",
        "privacy_url": privacy_url or "",
    }


def render(source: str, brand: str, terms_url: str | None, privacy_url: str | None) -> Markup:
    """The footer as safe HTML (InvalidInput naming the problem when it cannot be drawn)."""
    if len(source) > MAX_SOURCE:
        raise InvalidInput(footer=_l("The footer may have at most %(n)s characters.", n=MAX_SOURCE))
    try:
        html = _compiled(source).render(_context(brand, terms_url, privacy_url))
    except TemplateError as error:  # SecurityError is one: the sandbox refused something
        raise InvalidInput(
            footer=_l("The footer cannot be used: %(reason)s", reason=error.message or "")
        ) from error
    if len(html) > MAX_OUTPUT:
        raise InvalidInput(footer=_l("The footer is too long once drawn."))
    return Markup(html.strip())


def plain(html: Markup) -> str:
    """The footer's text for plain-text e-mails."""
    return " ".join(html.striptags().split())
