"""Postal codes (CAP) → ISTAT comuni, from data/istat/cap.csv (see data/istat/SOURCE.md): 8,459 rows,
read once per process into two small dictionaries, so a lookup costs no query."""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

from django.conf import settings

CAP_FILE = Path(settings.BASE_DIR) / "data" / "istat" / "cap.csv"


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    by_cap: dict[str, list[str]] = {}
    by_comune: dict[str, list[str]] = {}
    with CAP_FILE.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            by_cap.setdefault(row["cap"], []).append(row["istat_code"])
            by_comune.setdefault(row["istat_code"], []).append(row["cap"])
    return (
        {k: tuple(v) for k, v in by_cap.items()},
        {k: tuple(v) for k, v in by_comune.items()},
    )


def is_cap(text: str) -> bool:
    return len(text) == 5 and text.isascii() and text.isdigit()


def istat_codes_of(cap: str) -> tuple[str, ...]:
    """The comuni a CAP serves (a few CAPs serve several small comuni)."""
    return _tables()[0].get(cap, ())


def caps_of(istat_code: str) -> tuple[str, ...]:
    return _tables()[1].get(istat_code, ())


def neighbouring_caps(cap: str, limit: int = 5) -> list[str]:
    """Known CAPs sharing the first three digits (the same postal area), nearest number first: the
    suggestions for a CAP we do not know."""
    if not is_cap(cap):
        return []
    area = [c for c in _tables()[0] if c[:3] == cap[:3]]
    return sorted(area, key=lambda c: (abs(int(c) - int(cap)), c))[:limit]
