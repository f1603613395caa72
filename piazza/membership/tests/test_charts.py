"""Issue 11 items 18–19: chart text readable on a phone (≥ 12 px once drawn in a 320-pixel card)
and no label clipped at the chart's edge, whatever the names and numbers."""

import re

from piazza.membership import charts

PHONE_CARD_WIDTH = 320  # 390-pixel phone minus the page's and the card's padding
CHAR_WIDTH = 0.62  # average glyph width of a system sans-serif, in em (generous)


def _find(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    assert found is not None, pattern
    return found.group(1)


def _check(svg: str) -> None:
    width = int(_find(r'viewBox="0 0 (\d+) \d+"', svg))
    assert f'width="{width}"' in svg  # drawn at natural size; CSS only shrinks it
    scale = min(1.0, PHONE_CARD_WIDTH / width)
    for attrs, text in re.findall(r"<text ([^>]*)>([^<]*)</text>", svg):
        size = float(_find(r'font-size="([\d.]+)"', attrs))
        assert size * scale >= 12, f"{text!r} renders at {size * scale:.1f}px"
        x = float(_find(r'\bx="([\d.]+)"', attrs))
        span = len(text) * size * CHAR_WIDTH
        if 'text-anchor="end"' in attrs:
            left, right = x - span, x
        elif 'text-anchor="middle"' in attrs:
            left, right = x - span / 2, x + span / 2
        else:
            left, right = x, x + span
        assert left >= 0 and right <= width, f"{text!r} is clipped ({left:.0f}–{right:.0f} of {width})"


def test_bars_and_rates_keep_long_names_and_big_numbers_inside():
    name = "Circolo PD Bologna Centro Storico e Università di Bologna"
    _check(charts.bars([(name, 12345), ("Navile", 3)], "t"))
    _check(charts.rates([(name, 999, 999), ("Navile", 10, 1)], "t"))


def test_years_pyramid_and_map_are_readable_on_a_phone():
    _check(charts.years([(y, 1234, 5678) for y in range(2015, 2027)], "t"))
    _check(charts.pyramid([("16–29", 9999, 9999), ("80+", 1, 0)], "t"))
    _check(charts.italy({"BO": 120, "MI": 3}, "t"))
