"""WCAG 2 contrast: known ratios, the readable text colour, and a suggested colour that
passes AA when the brand's own does not."""

from __future__ import annotations

import pytest

from plugins.theme import contrast


def test_known_ratios():
    assert contrast.ratio("#ffffff", "#000000") == pytest.approx(21)
    assert contrast.ratio("#ffffff", "#ffffff") == pytest.approx(1)
    # WebAIM's figure for #767676 on white: 4.54 (the lightest grey passing AA).
    assert contrast.ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
    assert contrast.ratio("#777777", "#ffffff") < contrast.AA


@pytest.mark.parametrize(
    ("background", "text"),
    [
        ("#0f766e", "#ffffff"),
        ("#7c2d12", "#ffffff"),
        ("#fde68a", "#1f2937"),
        ("#f59e0b", "#1f2937"),
    ],
)
def test_the_text_drawn_on_a_colour_is_the_more_readable(background, text):
    assert contrast.text_on(background) == text and contrast.passes(background)


@pytest.mark.parametrize("background", ["#3b82f6", "#8a8a8a", "#ef4444", "#8b5cf6", "#16a34a"])
def test_a_failing_colour_gets_a_near_one_that_passes(background):
    assert not contrast.passes(background)
    suggestion = contrast.suggest(background)
    assert suggestion != background and contrast.passes(suggestion)
    assert contrast.HEX.match(suggestion)


def test_a_passing_colour_is_its_own_suggestion():
    assert contrast.suggest("#7C2D12") == "#7c2d12"
