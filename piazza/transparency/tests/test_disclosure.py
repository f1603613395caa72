"""Rule G1 on its own: the merging of small cells (pure functions)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from piazza.transparency.disclosure import Cell, at_risk, median, merge_small_cells


def cell(key: str, donors: list[int], amounts: list[int] | None = None) -> Cell:
    c = Cell(key, key)
    for i, donor in enumerate(donors):
        c.add(donor, (amounts or [100] * len(donors))[i])
    return c


def test_rule_g1_a_month_with_one_donor_is_merged_with_the_smallest_other_month():
    march, april, may = cell("03", [1, 2, 3, 4]), cell("04", [9], [3777]), cell("05", [5, 6, 7, 8, 10])
    visible, merged = merge_small_cells([march, april, may], 3, key="merged", label="altri")
    assert [c.key for c in visible] == ["05"]
    assert merged is not None and not at_risk(merged, 3)
    assert merged.total_cents == 4 * 100 + 3777  # never 3777 alone


def test_rule_g1_donors_above_the_threshold_do_not_hide_a_small_one():
    c = Cell("04", "aprile")
    c.add(1, 60_000, protected=False)
    c.add(2, 70_000, protected=False)
    c.add(3, 2_500)
    assert at_risk(c, 3)  # the register names 1 and 2: subtracting them reveals 3's gift


def test_cells_without_anybody_stay_and_safe_cells_are_untouched():
    empty, safe = Cell("01", "gennaio"), cell("02", [1, 2, 3])
    assert merge_small_cells([empty, safe], 3, key="m", label="m") == ([empty, safe], None)


@given(st.lists(st.lists(st.integers(min_value=0, max_value=30), max_size=6), max_size=12), st.integers(2, 5))
def test_rule_g1_no_published_cell_is_at_risk_unless_everything_is(groups, k):
    cells = [cell(str(i), donors) for i, donors in enumerate(groups)]
    visible, merged = merge_small_cells(cells, k, key="m", label="m")
    assert not any(at_risk(c, k) for c in visible)
    everyone = set().union(*(c.protected for c in cells)) if cells else set()
    if merged is not None and at_risk(merged, k):
        assert len(everyone) < k  # only when even all of them together are too few
    assert sum(c.total_cents for c in visible) + (merged.total_cents if merged else 0) == sum(
        c.total_cents for c in cells
    )


def test_median_of_odd_and_even_counts():
    assert median([]) == 0
    assert median([500, 100, 300]) == 300
    assert median([100, 200, 300, 1000]) == 250
