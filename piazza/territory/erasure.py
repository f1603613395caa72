"""Rule G5 declarations (piazza.core.erasure): the territory tree holds no data subject's data."""

from __future__ import annotations

from piazza.core.erasure import Declaration
from piazza.territory.models import Comune, Territory

ERASURE: Declaration = {}
NOT_PERSONAL: Declaration = {
    Comune: {"name": "ISTAT list of comuni", "province_name": "ISTAT list", "region_name": "ISTAT list"},
    Territory: {"name": "a party body's name (circolo, federation…)"},
}
