"""The product's words: one term per concept and language, in every catalog.

A concept's English words in a msgid call for the language's term in its msgstr
(a merchant reading "Cartões de carimbos" on one screen and "Cartões fidelidade"
on the next wonders whether they are two features), and a variant once used for
a term is refused anywhere in that language's catalogs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

from core.web.i18n import LANGUAGES
from tests.core.test_i18n import FOLDERS, PLACEHOLDER, po_path, read_catalog


@dataclass(frozen=True)
class Term:
    english: str  # how msgids name the concept (a regular expression)
    terms: dict[str, str]  # language -> the term its msgstrs use (a regular expression)
    refused: dict[str, tuple[str, ...]] = field(default_factory=dict)  # language -> variants


GLOSSARY = {
    "punch card": Term(
        r"\b(punch|stamp) cards?\b",
        {
            "es": r"\btarjetas? de sellos\b",
            "en": r"\bpunch cards?\b",
            "pt_BR": r"\bcart(ão|ões) de carimbos\b",
        },
        {
            "es": (r"\btarjetas? de (fidelidad|fidelización|puntos|sellado)\b",),
            "en": (r"\bstamp cards?\b",),
            "pt_BR": (
                r"\bcart(ão|ões) (de )?fidelidade\b",
                r"\bcart(ão|ões) de carimbo\b",
                r"\bcartelas?\b",
            ),
        },
    ),
    "loyalty program": Term(
        r"\bloyalty programs?\b",
        {
            "es": r"\bprogramas? de fidelización\b",
            "en": r"\bloyalty programs?\b",
            "pt_BR": r"\bprogramas? de fidelidade\b",
        },
        {
            "es": (r"\bprogramas? de (puntos|lealtad|fidelidad)\b",),
            "pt_BR": (r"\bprogramas? de (pontos|lealdade)\b",),
        },
    ),
    "redemption": Term(
        r"\b(redeem\w*|redemptions?)\b",
        {"es": r"\bcanje\w*", "en": r"\b(redeem\w*|redemptions?)\b", "pt_BR": r"\bresgat\w*"},
        {"es": (r"\bredim\w*", r"\bredenci[oó]n\w*"), "pt_BR": (r"\bredenç\w*", r"\bredim\w*")},
    ),
    "prize": Term(  # what a full punch card gives, not a catalogue reward
        r"\bprizes?\b",
        {"es": r"\bpremios?\b", "en": r"\bprizes?\b", "pt_BR": r"\bprêmios?\b"},
    ),
    "reward": Term(
        r"\brewards?\b",
        {
            "es": r"\b(recompensas?|canje\w*)",
            "en": r"\brewards?\b",
            "pt_BR": r"\b(recompensas?|resgat\w*)",
        },
        {"es": (r"\bgalard\w*", r"\bobsequios?\b"), "pt_BR": (r"\bbrindes?\b",)},
    ),
    "customer": Term(
        r"\bcustomers?\b",
        {"es": r"\bclientes?\b", "en": r"\bcustomers?\b", "pt_BR": r"\bclientes?\b"},
        {
            "es": (r"\bsocios?\b", r"\bafiliad[oa]s?\b"),
            "pt_BR": (r"\bsóci[oa]s?\b", r"\bafiliad[oa]s?\b"),
        },
    ),
}


def _messages(language: str) -> list[tuple[str, str, str]]:
    """(catalog, msgid, msgstr) of every translated message in `language`, placeholders
    removed (a `%(reward)s` names a value, not the concept)."""
    found = []
    for folder in FOLDERS:
        for message in read_catalog(po_path(folder, language)):
            if not message.id:
                continue
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            for string in filter(None, strings):
                found.append((folder, PLACEHOLDER.sub("", ids[0]), PLACEHOLDER.sub("", string)))
    return found


def mismatches(messages: list[tuple[str, str, str]], language: str) -> list[str]:
    problems = []
    for concept, term in GLOSSARY.items():
        expected = re.compile(term.terms[language], re.I)
        refused = [re.compile(variant, re.I) for variant in term.refused.get(language, ())]
        for folder, msgid, msgstr in messages:
            if re.search(term.english, msgid, re.I) and not expected.search(msgstr):
                problems.append(
                    f"{folder}: {concept!r} is not {term.terms[language]!r} in "
                    f"{msgid!r} → {msgstr!r}"
                )
            problems.extend(
                f"{folder}: {concept!r} reads {match.group(0)!r} in {msgstr!r}"
                for pattern in refused
                if (match := pattern.search(msgstr))
            )
    return problems


def test_every_concept_has_a_term_in_every_language():
    for concept, term in GLOSSARY.items():
        assert set(term.terms) == set(LANGUAGES), concept


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_catalog_uses_the_glossarys_terms(language):
    assert mismatches(_messages(language), language) == []


def test_a_variant_or_a_missing_term_is_caught():
    assert mismatches([("x", "Punch cards", "Cartões fidelidade")], "pt_BR") == [
        "x: 'punch card' is not '\\\\bcart(ão|ões) de carimbos\\\\b' in 'Punch cards' → "
        "'Cartões fidelidade'",
        "x: 'punch card' reads 'Cartões fidelidade' in 'Cartões fidelidade'",
    ]
    assert mismatches([("x", "Punch cards", "Cartões de carimbos")], "pt_BR") == []
