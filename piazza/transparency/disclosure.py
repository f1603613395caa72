"""Rule G1: nothing published below the publication threshold may identify a person.

A published figure is a *cell*: a set of contributors and the money they gave. A cell with at
least one and fewer than `k` contributors could point at one person (a circolo with one donor in
a month shows that donor's gift), so it is never shown alone: `merge_small_cells` folds it into
one "merged" cell together with the other small ones (circolo → the federation's "other circoli";
month → "other months of the year"). If the merged cell itself still has fewer than `k`
contributors, the smallest visible cells join it until it has `k` (secondary suppression: the
merged cell can then never be worked out by subtracting the visible cells from a total).

Pure functions over person keys, no database: hypothesis-friendly and tested on their own.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Cell:
    """Contributors and their contributions. `protected` are those below the publication
    threshold (rule F1: the others are published by name in the register anyway)."""

    key: str
    label: Any
    donors: set[Hashable] = field(default_factory=set)
    protected: set[Hashable] = field(default_factory=set)
    amounts: list[int] = field(default_factory=list)  # each contribution, cents

    @property
    def total_cents(self) -> int:
        return sum(self.amounts)

    @property
    def count(self) -> int:
        return len(self.amounts)

    def add(self, donor: Hashable, cents: int, *, protected: bool = True) -> None:
        self.donors.add(donor)
        if protected:
            self.protected.add(donor)
        self.amounts.append(cents)

    def absorb(self, other: Cell) -> None:
        self.donors |= other.donors
        self.protected |= other.protected
        self.amounts.extend(other.amounts)


def at_risk(cell: Cell, k: int) -> bool:
    """Rule G1: some contributors below the threshold, but too few to hide one among them (the
    published ones do not hide anybody: their gifts are in the register, to be subtracted)."""
    return 0 < len(cell.protected) < k


def merge_small_cells(cells: Sequence[Cell], k: int, *, key: str, label: str) -> tuple[list[Cell], Cell | None]:
    """(visible cells, the merged cell or None): no visible cell and no merged cell is at risk.

    Cells without protected contributors stay visible (they identify nobody). If even merging every
    cell leaves fewer than `k` contributors, the merged cell is returned at risk: the caller then
    withholds the whole table (the territory is merged into its parent).
    """
    visible = [c for c in cells if not at_risk(c, k)]
    small = [c for c in cells if at_risk(c, k)]
    if not small:
        return list(cells), None
    merged = Cell(key=key, label=label)
    for cell in small:
        merged.absorb(cell)
    # Secondary suppression: add the smallest visible cells until the merged one is safe.
    while len(merged.protected) < k:
        candidates = sorted((c for c in visible if c.protected), key=lambda c: (len(c.protected), c.total_cents))
        if not candidates:
            break
        merged.absorb(candidates[0])
        visible.remove(candidates[0])
    order = {c.key: i for i, c in enumerate(cells)}
    visible.sort(key=lambda c: order[c.key])
    return visible, merged


def median(values: Sequence[int]) -> int:
    """Median in whole cents (an even count: the mean of the two middle gifts, rounded down)."""
    if not values:
        return 0
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) // 2
