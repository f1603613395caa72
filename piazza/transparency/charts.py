"""The portal's charts: server-rendered SVG, no script (as `membership/charts.py`, whose bars
it reuses), each shown with its table next to it for screen readers and printouts.

The map of Italy is a tile-grid cartogram of the regions (one square each; Trentino-Alto Adige
as its two provincial unions, as the party is organised): no region geometry ships with the
project and nothing is downloaded at run time, and equal squares keep small regions readable on
a phone. The tiles are placed by hand in roughly geographic order.
"""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from piazza.membership.charts import PALETTE, SMALL, bars

__all__ = ["REGION_TILES", "bars", "regions_map"]

# ISTAT region code (provincial unions: province code) → (short label, column, row).
REGION_TILES: dict[str, tuple[str, int, int]] = {
    "02": ("VdA", 0, 0),
    "03": ("Lom", 1, 0),
    "021": ("BZ", 2, 0),
    "06": ("FVG", 3, 0),
    "01": ("Pie", 0, 1),
    "08": ("E-R", 1, 1),
    "022": ("TN", 2, 1),
    "05": ("Ven", 3, 1),
    "07": ("Lig", 0, 2),
    "09": ("Tos", 1, 2),
    "10": ("Umb", 2, 2),
    "11": ("Mar", 3, 2),
    "12": ("Laz", 1, 3),
    "13": ("Abr", 2, 3),
    "14": ("Mol", 3, 3),
    "20": ("Sar", 0, 4),
    "15": ("Cam", 2, 4),
    "16": ("Pug", 3, 4),
    "17": ("Bas", 3, 5),
    "18": ("Cal", 3, 6),
    "19": ("Sic", 2, 7),
}

SIZE = 60


def regions_map(values: dict[str, tuple[str, float | None]], title: str) -> SafeString:
    """A choropleth cartogram: `values` maps a region's code to (its name, the figure or None
    when it is not published); each tile's tooltip names the region and gives the figure."""
    known = [v for _name, v in values.values() if v]
    top = max(known, default=0) or 1
    parts = []
    for code, (short, col, row) in REGION_TILES.items():
        name, value = values.get(code, (short, None))
        shade = PALETTE[0] if not value else PALETTE[min(5, 1 + int(4 * value / top))]
        ink = "#ffffff" if value and 4 * value / top >= 2 else "#1b1f24"
        shown = "—" if value is None else f"{value:.2f}".replace(".", ",")
        x, y = col * SIZE, row * SIZE
        parts.append(
            f'<g><title>{escape(name)}: {escape(shown)}</title><rect x="{x}" y="{y}" width="{SIZE - 3}" '
            f'height="{SIZE - 3}" rx="4" fill="{shade}" stroke="#8a96a3"/>'
            f'<text x="{x + (SIZE - 3) / 2}" y="{y + 24}" text-anchor="middle" font-size="{SMALL}" '
            f'fill="{ink}">{escape(short)}</text>'
            f'<text x="{x + (SIZE - 3) / 2}" y="{y + 42}" text-anchor="middle" font-size="{SMALL}" '
            f'fill="{ink}">{escape(shown)}</text></g>'
        )
    width, height = 4 * SIZE, 8 * SIZE
    return mark_safe(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" class="chart" aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f"{''.join(parts)}</svg>"
    )
