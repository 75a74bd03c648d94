"""The brand's footer is the one template a brand writes: drawn in Jinja's immutable
sandbox with plain data only. It cannot run Python, reach the app's configuration or
internals, or inject markup; what it tries is refused with a reason."""

from __future__ import annotations

import pytest

from core.host.errors import InvalidInput
from plugins.theme import footer


def draw(source: str) -> str:
    return str(footer.render(source, "Barrio <Dulce>", "https://b.example/t", None))


def test_conditions_on_the_placeholders_are_allowed():
    out = draw("{% if terms_url %}<a href='{{ terms_url }}'>T</a>{% else %}-{% endif %}")
    assert "https://b.example/t" in out


def test_placeholders_are_filled_and_escaped():
    out = draw("© {{ year }} {{ brand }} · <a href='{{ terms_url }}'>T</a>")
    assert "Barrio &lt;Dulce&gt;" in out and "https://b.example/t" in out
    assert str(__import__("datetime").date.today().year) in out
    assert footer.plain(footer.render("<b>{{ brand }}</b>", "Barrio", None, None)) == "Barrio"


@pytest.mark.parametrize(
    "attack",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ brand.__class__ }}",
        "{{ (1).__class__.__base__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ brand.format.__globals__ }}",
        "{% set x = [].append(1) %}{{ x }}",
        "{% import 'base.html' as b %}",
        "{% include 'app/base.html' %}",
        "{% extends 'base.html' %}",
        "{{ brand.upper( }}",
        # markup let through, and work without end on every page
        '{{ "<script>x()</script>"|safe }}',
        "{{ brand|e|safe }}",
        "{{ brand * 40000000 }}",
        "{% for i in brand %}{% for j in brand %}{{ i }}{% endfor %}{% endfor %}",
        "{{ 10 ** 1000 }}",
    ],
)
def test_what_reaches_python_or_the_app_is_refused(app, attack):
    with app.test_request_context(), pytest.raises(InvalidInput) as refused:
        draw(attack)
    assert "footer" in refused.value.fields


@pytest.mark.parametrize("name", ["config", "request", "g", "url_for", "self", "range", "lipsum"])
def test_the_apps_globals_are_not_there(app, name):
    with app.test_request_context(), pytest.raises(InvalidInput):
        draw("[{{ " + name + " }}]")
    # And without the check before it, the sandbox has none of them: drawn as nothing.
    if name != "self":
        drawn = footer._sandbox.from_string("[{{ " + name + " }}]").render()
        assert drawn == "[]"


def test_too_long_is_refused():
    with pytest.raises(InvalidInput):
        draw("x" * (footer.MAX_SOURCE + 1))
    with pytest.raises(InvalidInput):
        draw(
            "{% for a in 'xxxxxxxxxx' %}{% for b in 'xxxxxxxxxx' %}" * 2
            + "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"
            + "{% endfor %}{% endfor %}" * 2
        )
