"""Rules F1/F2, F4, F6/F14, F10–F12 as plain functions over configurable parameters."""

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from piazza.compliance import rules
from piazza.compliance.models import FinanceRuleSet
from piazza.compliance.rules import DEFAULT_RULES, FinanceRules


def test_rule_f4_every_attestation_is_required():
    assert rules.missing_attestations(rules.ATTESTATION_KEYS) == []
    assert rules.missing_attestations(["adult", "own_funds"]) == ["electoral_lists", "not_foreign_entity"]
    assert rules.missing_attestations([]) == rules.ATTESTATION_KEYS


def test_rule_f2_publication_strictly_above_500():
    assert not rules.publication_required(500_00, DEFAULT_RULES)
    assert rules.publication_required(500_01, DEFAULT_RULES)
    # objecting is fine below the threshold, refused above it
    assert rules.may_accept(500_00, objects_to_publication=True, rules=DEFAULT_RULES)
    assert not rules.may_accept(500_01, objects_to_publication=True, rules=DEFAULT_RULES)
    assert rules.may_accept(900_00, objects_to_publication=False, rules=DEFAULT_RULES)


@given(already=st.integers(0, 200_000_00), amount=st.integers(1, 200_000_00))
def test_rule_f6_cap_never_lets_the_year_exceed_it(already, amount):
    check = rules.check_annual_cap(already, amount, DEFAULT_RULES)
    assert check.allowed == (already + amount <= DEFAULT_RULES.annual_cap_cents)
    assert check.remaining_cents >= 0


def test_rule_f14_scope_and_fees_are_parameters():
    seen = []

    def donations(person_id, year, entity):
        seen.append(entity)
        return 1000

    def fees(person_id, year, entity):
        return 500

    before = rules.registered_sources()
    try:
        rules._SOURCES.clear()
        rules.register_contribution_source("test-d", "donation", donations)
        rules.register_contribution_source("test-f", "fee", fees)
        assert rules.annual_total_cents(1, 2026, "/1/7/", DEFAULT_RULES) == 1500
        assert seen[-1] == ""  # whole party by default (cautious reading)
        per_entity = FinanceRules(cap_scope="entity", fees_count=False)
        assert rules.annual_total_cents(1, 2026, "/1/7/", per_entity) == 1000
        assert seen[-1] == "/1/7/"
        with pytest.raises(ValueError):
            rules.register_contribution_source("bad", "gift", donations)
    finally:
        rules._SOURCES.clear()
        rules._SOURCES.update(before)


def test_rule_f11_spending_cap_and_f12_joint_declaration():
    assert rules.candidate_spending_cap_cents(100_000, DEFAULT_RULES) == 52_000_00 + 100_000
    assert not rules.needs_joint_declaration(3_000_00, DEFAULT_RULES)
    assert rules.needs_joint_declaration(3_000_01, DEFAULT_RULES)
    assert rules.must_itemise(100, natural_person=False, rules=DEFAULT_RULES)
    assert not rules.must_itemise(5_000_00, natural_person=True, rules=DEFAULT_RULES)


def test_rule_f10_mandatario_from_the_day_after_elections_are_called():
    called = dt.date(2026, 3, 1)
    assert not rules.needs_mandatario(called, called, False, 0, DEFAULT_RULES)
    assert rules.needs_mandatario(called, called + dt.timedelta(days=1), False, 0, DEFAULT_RULES)
    assert not rules.needs_mandatario(called, dt.date(2026, 4, 1), True, 2_000_00, DEFAULT_RULES)
    assert rules.needs_mandatario(called, dt.date(2026, 4, 1), True, 2_500_00, DEFAULT_RULES)
    assert not rules.needs_mandatario(None, dt.date(2026, 4, 1), False, 0, DEFAULT_RULES)


@pytest.mark.django_db
def test_parameters_come_from_the_rule_set_in_force():
    assert rules.rules_on(dt.date(2026, 6, 1)) == DEFAULT_RULES
    FinanceRuleSet.objects.create(valid_from=dt.date(2026, 1, 1), annual_cap_cents=50_000_00)
    FinanceRuleSet.objects.create(valid_from=dt.date(2027, 1, 1), annual_cap_cents=70_000_00)
    assert rules.rules_on(dt.date(2025, 12, 31)) == DEFAULT_RULES
    assert rules.rules_on(dt.date(2026, 6, 1)).annual_cap_cents == 50_000_00
    assert rules.rules_on(dt.date(2027, 6, 1)).annual_cap_cents == 70_000_00


@pytest.mark.django_db
def test_rules_are_cached_and_a_new_rule_set_is_seen_at_once():
    import datetime as dt

    from piazza.compliance.models import FinanceRuleSet
    from piazza.compliance.rules import DEFAULT_RULES, rules_on

    assert rules_on() == DEFAULT_RULES
    FinanceRuleSet.objects.create(valid_from=dt.date(2000, 1, 1), annual_cap_cents=5_000_00)
    assert rules_on().annual_cap_cents == 5_000_00  # saving a rule set drops the cached parameters


@pytest.mark.django_db
def test_admission_at_payment_success_judges_cap_and_objection(tree):
    import datetime as dt

    from django.db import transaction

    from piazza.compliance.models import FinanceRuleSet
    from piazza.compliance.rules import admit_contribution, lock_contributor, register_contribution_source
    from piazza.people.models import Person

    person = Person.objects.create(first_name="Giulia", last_name="Rossi", territory=tree.bologna_centro)
    register_contribution_source("test.given", "donation", lambda pid, year, path: 40_000 if pid == person.pk else 0)
    FinanceRuleSet.objects.create(valid_from=dt.date(2000, 1, 1), annual_cap_cents=60_000)
    try:
        with transaction.atomic():
            lock_contributor("RSSGLI80A41A944K")
            assert admit_contribution(person.pk, 20_000, "").allowed
            assert admit_contribution(person.pk, 20_001, "").code == "annual_cap"
            assert admit_contribution(person.pk, 10_000, "", objects_to_publication=True).allowed  # €500 exactly
            assert (
                admit_contribution(person.pk, 10_001, "", objects_to_publication=True).code == "publication_objection"
            )
    finally:
        from piazza.compliance import rules

        rules._SOURCES.pop("test.given", None)
