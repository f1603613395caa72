"""The join's hot reads compiled once per process (issue 14, P8, ADR 0050), on whichever database the
suite runs: compiled, not left on the ORM; the rows the ORM gives; and the rules read afresh on every
call, so a federation's limit changed on deadline day applies to the next join (only the SQL is kept)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import Model

from piazza.membership.actions import join as join_actions
from piazza.membership.models import Membership, MembershipRules, _rules_rows_at, rules_at, rules_for

from .conftest import YEAR, join

pytestmark = pytest.mark.django_db


def _columns(obj: Model) -> dict[str, Any]:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def test_the_rules_are_compiled_and_the_nearest_setting_wins(tree):
    MembershipRules.objects.create(territory=tree.emilia, max_per_instrument=5, objection_days=20)
    MembershipRules.objects.create(territory=tree.bologna, max_per_instrument=7)
    MembershipRules.objects.create(territory=tree.modena, max_per_instrument=9)  # another branch: not in force
    assert _rules_rows_at.prepared(tree.bologna_centro.pk)
    rows = _rules_rows_at.rows(tree.bologna_centro.pk)
    assert [r.territory_id for r in rows] == [tree.emilia.pk, tree.bologna.pk]  # root first
    expected = MembershipRules.objects.filter(territory__in=[tree.emilia, tree.bologna]).order_by("territory__depth")
    assert [_columns(r) for r in rows] == [_columns(r) for r in expected]
    rules = rules_for(tree.bologna_centro)
    assert (rules.max_per_instrument, rules.objection_days) == (7, 20)
    assert rules_at(tree.bologna_centro.pk) == rules
    assert rules_for(tree.modena_nord).max_per_instrument == 9


def test_a_rule_changed_applies_to_the_next_read(tree):
    before = rules_for(tree.bologna_centro).max_per_instrument
    MembershipRules.objects.create(territory=tree.bologna, max_per_instrument=before + 1)
    assert rules_for(tree.bologna_centro).max_per_instrument == before + 1
    MembershipRules.objects.filter(territory=tree.bologna).update(max_per_instrument=before + 2)
    assert rules_at(tree.bologna_centro.pk).max_per_instrument == before + 2


def test_the_live_membership_by_code_is_compiled_and_gives_the_orm_row(tree, schedule):
    member = join(tree)
    code = member.person.codice_fiscale_canonical
    assert join_actions._live_membership_by_code(YEAR).prepared(code)
    found = join_actions._existing_membership(code, YEAR)
    assert found is not None
    assert _columns(found) == _columns(Membership.objects.get(pk=member.pk))
    assert _columns(found.circolo) == _columns(member.circolo)
    assert join_actions._existing_membership(code, YEAR + 1) is None
    assert join_actions._existing_membership(code[:-1] + "X", YEAR) is None
