"""Server-rendered SVG charts (no chart library, no inline script or style: CSP-safe).

Each function returns SVG markup with a <title> and a text table fallback is rendered next to
it by the template, so screen readers and printouts get the numbers too.

Sizes (issue 11 item 19): every chart is at most MAX_WIDTH units wide and drawn at its natural
size (the `width` attribute; CSS only shrinks it on a narrower screen), so on a 390-pixel phone
no text renders below FONT pixels; labels sit on their own line above the bars, never clipped.
"""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

# A tile map of Italy: one square per province (plate code) at (column, row). Approximate
# geography drawn for this project, shipped as data so nothing downloads at run time.
PROVINCE_TILES: dict[str, tuple[int, int]] = {
    "VB": (1, 0),
    "CO": (2, 0),
    "LC": (3, 0),
    "SO": (4, 0),
    "BZ": (5, 0),
    "BL": (6, 0),
    "UD": (7, 0),
    "AO": (0, 1),
    "BI": (1, 1),
    "VA": (2, 1),
    "MB": (3, 1),
    "BG": (4, 1),
    "TN": (5, 1),
    "TV": (6, 1),
    "PN": (7, 1),
    "GO": (8, 1),
    "TO": (0, 2),
    "VC": (1, 2),
    "NO": (2, 2),
    "MI": (3, 2),
    "BS": (4, 2),
    "VR": (5, 2),
    "VI": (6, 2),
    "VE": (7, 2),
    "TS": (8, 2),
    "CN": (0, 3),
    "AT": (1, 3),
    "PV": (2, 3),
    "LO": (3, 3),
    "CR": (4, 3),
    "MN": (5, 3),
    "PD": (6, 3),
    "RO": (7, 3),
    "IM": (0, 4),
    "AL": (1, 4),
    "PC": (2, 4),
    "PR": (3, 4),
    "RE": (4, 4),
    "MO": (5, 4),
    "FE": (6, 4),
    "SV": (1, 5),
    "GE": (2, 5),
    "SP": (3, 5),
    "MS": (4, 5),
    "BO": (5, 5),
    "RA": (6, 5),
    "LU": (3, 6),
    "PT": (4, 6),
    "PO": (5, 6),
    "FC": (6, 6),
    "RN": (7, 6),
    "PU": (8, 6),
    "LI": (2, 7),
    "PI": (3, 7),
    "FI": (4, 7),
    "AR": (5, 7),
    "PG": (6, 7),
    "MC": (7, 7),
    "AN": (8, 7),
    "GR": (3, 8),
    "SI": (4, 8),
    "TR": (5, 8),
    "RI": (6, 8),
    "FM": (7, 8),
    "AP": (8, 8),
    "SS": (0, 9),
    "VT": (4, 9),
    "RM": (5, 9),
    "AQ": (6, 9),
    "TE": (7, 9),
    "PE": (8, 9),
    "NU": (1, 10),
    "OR": (0, 10),
    "LT": (5, 10),
    "FR": (6, 10),
    "IS": (7, 10),
    "CH": (8, 10),
    "CB": (9, 10),
    "SU": (0, 11),
    "CA": (1, 11),
    "CE": (6, 11),
    "BN": (7, 11),
    "FG": (8, 11),
    "BT": (9, 11),
    "NA": (6, 12),
    "AV": (7, 12),
    "PZ": (8, 12),
    "BA": (9, 12),
    "BR": (10, 12),
    "SA": (7, 13),
    "MT": (8, 13),
    "TA": (9, 13),
    "LE": (10, 13),
    "CS": (8, 14),
    "CZ": (8, 15),
    "KR": (9, 15),
    "VV": (8, 16),
    "RC": (8, 17),
    "TP": (4, 17),
    "PA": (5, 17),
    "ME": (7, 17),
    "AG": (5, 18),
    "CL": (6, 18),
    "EN": (7, 18),
    "CT": (8, 18),
    "RG": (7, 19),
    "SR": (8, 19),
}

PALETTE = ["#eef5f0", "#c6e2cf", "#8fc6a3", "#4fa06f", "#1f7a47", "#0b5d3b"]
NEW = "#0b5d3b"
RENEWED = "#8fc6a3"
WOMEN = "#7a3b8f"
MEN = "#1f5f99"


MAX_WIDTH = 320
FONT = 13
SMALL = 12


def _svg(width: int, height: int, title: str, body: str) -> SafeString:
    # Every text inside is escaped above; the markup itself is ours.
    return mark_safe(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" class="chart" aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f"{body}</svg>"
    )


def _fit(label: str, chars: int = 38) -> str:
    """A label that fits the chart's width at FONT px (the full name is in the table beside it)."""
    return escape(label if len(label) <= chars else label[: chars - 1] + "…")


def bars(items: list[tuple[str, int]], title: str, *, limit: int = 15) -> SafeString:
    """Horizontal bars, largest first (members per territory); each label on its own line."""
    items = items[:limit]
    top = max((v for _l, v in items), default=0) or 1
    row, bar_w = 38, MAX_WIDTH - 70
    parts = []
    for i, (label, value) in enumerate(items):
        y = i * row
        w = round(bar_w * value / top)
        parts.append(
            f'<text x="0" y="{y + 14}" font-size="{FONT}">{_fit(label)}</text>'
            f'<rect x="0" y="{y + 19}" width="{w}" height="14" fill="{NEW}"/>'
            f'<text x="{w + 5}" y="{y + 31}" font-size="{FONT}">{value}</text>'
        )
    return _svg(MAX_WIDTH, max(row * len(items), row), title, "".join(parts))


def years(rows: list[tuple[int, int, int]], title: str) -> SafeString:
    """Stacked columns per year (the last six): new members (dark) and renewals (light)."""
    rows = rows[-6:]
    top = max((n + r for _y, n, r in rows), default=0) or 1
    col, height, base = 52, 150, 190
    new_label, renewed_label = escape(_("nuovi")), escape(_("rinnovi"))
    parts = [
        f'<rect x="0" y="4" width="12" height="12" fill="{NEW}"/>'
        f'<text x="17" y="15" font-size="{FONT}">{new_label}</text>'
        f'<rect x="110" y="4" width="12" height="12" fill="{RENEWED}"/>'
        f'<text x="127" y="15" font-size="{FONT}">{renewed_label}</text>'
    ]
    for i, (year, new, renewed) in enumerate(rows):
        x = 4 + i * col
        h_new = round(height * new / top)
        h_ren = round(height * renewed / top)
        parts.append(
            f'<rect x="{x}" y="{base - h_new}" width="{col - 12}" height="{h_new}" fill="{NEW}"/>'
            f'<rect x="{x}" y="{base - h_new - h_ren}" width="{col - 12}" height="{h_ren}" fill="{RENEWED}"/>'
            f'<text x="{x}" y="{base - h_new - h_ren - 4}" font-size="{SMALL}">{new + renewed}</text>'
            f'<text x="{x}" y="{base + 16}" font-size="{SMALL}">{year}</text>'
        )
    return _svg(MAX_WIDTH, base + 22, title, "".join(parts))


def rates(rows: list[tuple[str, int, int]], title: str, *, limit: int = 15) -> SafeString:
    """Renewal rate per circolo as horizontal bars from 0 to 100%; each label on its own line."""
    rows = rows[:limit]
    row, bar_w = 38, MAX_WIDTH - 110
    parts = []
    for i, (label, before, renewed) in enumerate(rows):
        pct = round(100 * renewed / before) if before else 0
        y = i * row
        parts.append(
            f'<text x="0" y="{y + 14}" font-size="{FONT}">{_fit(label)}</text>'
            f'<rect x="0" y="{y + 19}" width="{bar_w}" height="14" fill="#eef1f4"/>'
            f'<rect x="0" y="{y + 19}" width="{round(bar_w * pct / 100)}" height="14" fill="{NEW}"/>'
            f'<text x="{bar_w + 5}" y="{y + 31}" font-size="{SMALL}">{pct}% ({renewed}/{before})</text>'
        )
    return _svg(MAX_WIDTH, max(row * len(rows), row), title, "".join(parts))


def pyramid(rows: list[tuple[str, int, int]], title: str) -> SafeString:
    """Age bands: women to the left, men to the right; counts stay inside the chart."""
    top = max((max(w, m) for _l, w, m in rows), default=0) or 1
    row, half, mid = 24, 88, MAX_WIDTH // 2
    women_label, men_label = escape(_("donne")), escape(_("uomini"))
    parts = [
        f'<text x="{mid - 36}" y="14" text-anchor="end" font-size="{FONT}" fill="{WOMEN}">{women_label}</text>'
        f'<text x="{mid + 36}" y="14" font-size="{FONT}" fill="{MEN}">{men_label}</text>'
    ]
    for i, (label, women, men) in enumerate(rows):
        y = 22 + i * row
        ww, wm = round(half * women / top), round(half * men / top)
        parts.append(
            f'<rect x="{mid - 32 - ww}" y="{y}" width="{ww}" height="{row - 6}" fill="{WOMEN}"/>'
            f'<text x="{mid - 36 - ww}" y="{y + 14}" text-anchor="end" font-size="{SMALL}">{women}</text>'
            f'<text x="{mid}" y="{y + 14}" text-anchor="middle" font-size="{SMALL}">{escape(label)}</text>'
            f'<rect x="{mid + 32}" y="{y}" width="{wm}" height="{row - 6}" fill="{MEN}"/>'
            f'<text x="{mid + 36 + wm}" y="{y + 14}" font-size="{SMALL}">{men}</text>'
        )
    return _svg(MAX_WIDTH, 28 + row * len(rows), title, "".join(parts))


def italy(counts_by_sigla: dict[str, int], title: str) -> SafeString:
    """A choropleth tile map of the provinces; each tile's tooltip gives the number."""
    size = 29
    top = max(counts_by_sigla.values(), default=0) or 1
    parts = []
    for sigla, (col, row) in PROVINCE_TILES.items():
        value = counts_by_sigla.get(sigla, 0)
        shade = PALETTE[0] if value == 0 else PALETTE[min(5, 1 + (4 * value) // top)]
        ink = "#ffffff" if value and (4 * value) // top >= 2 else "#1b1f24"
        x, y = col * size, row * size
        parts.append(
            f'<g><title>{sigla}: {value}</title><rect x="{x}" y="{y}" width="{size - 2}" '
            f'height="{size - 2}" rx="3" fill="{shade}" stroke="#b8c2cc"/>'
            f'<text x="{x + (size - 2) / 2}" y="{y + 19}" text-anchor="middle" font-size="{SMALL}" '
            f'fill="{ink}">{sigla}</text></g>'
        )
    return _svg(11 * size, 20 * size, title, "".join(parts))
