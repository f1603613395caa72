"""The money path's reads and F6/F2 totals compiled once (ADR 0043), on whichever database the
suite runs (SQLite by default, PostgreSQL with DATABASE_URL): compiled, not left on the ORM; the
same rows and every column the ORM gives (a column added to a model is read, a renamed one is
read under its new name); each call's own values bound; recompiled after a migration."""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps as django_apps
from django.db import connection, transaction
from django.db.models import Model
from django.db.models.signals import post_migrate
from django.test.utils import CaptureQueriesContext

from piazza.compliance import rules
from piazza.compliance.rules import annual_total_cents, rules_on, sum_of_totals
from piazza.funding.actions import donations as donations_actions
from piazza.funding.models import Donation
from piazza.funding.tests.flows import give
from piazza.payments import views
from piazza.payments.actions import _transitions, lifecycle
from piazza.payments.models import Payment, PaymentAttempt

pytestmark = pytest.mark.django_db


def _gift(campaign: Any, cents: int, *, n: int) -> Any:
    """A paid gift of donor `n` (Any: its person, payment and date are set once paid)."""
    return give(campaign, cents, n=n)


def _columns(obj: Model) -> dict[str, Any]:
    """Every concrete column of a row, by its attribute name (what a compiled read must fill)."""
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def _same_rows(found: list[Any], expected: list[Any], *related: str) -> None:
    assert [_columns(o) for o in found] == [_columns(o) for o in expected]
    for name in related:  # select_related objects come whole, without another query
        with CaptureQueriesContext(connection) as captured:
            got = [_columns(getattr(o, name)) for o in found]
        assert len(captured) == 0
        assert got == [_columns(getattr(o, name)) for o in expected]


def test_the_money_path_reads_are_compiled_and_give_every_column_the_orm_gives(live_campaign):
    first, second = _gift(live_campaign, 2500, n=1), _gift(live_campaign, 1000, n=2)
    for donation in (first, second):
        payment = Payment.objects.get(pk=donation.payment_id)
        attempt = PaymentAttempt.objects.get(payment=payment)
        reads: list[tuple[Any, tuple[Any, ...], Any, tuple[str, ...]]] = [
            (
                donations_actions._donation_by_key,
                (donation.idempotency_key,),
                Donation.objects.filter(pk=donation.pk),
                ("campaign",),
            ),
            (
                donations_actions._person_by_code,
                (donation.person.codice_fiscale_canonical,),
                type(donation.person).objects.filter(pk=donation.person_id),
                (),
            ),
            (views._payment_by_token, (payment.token,), Payment.objects.filter(pk=payment.pk), ("territory",)),
            (_transitions._payment_for_update, (payment.pk,), Payment.objects.filter(pk=payment.pk), ("territory",)),
            (
                lifecycle._attempt_of_key_or_last,
                ("no-such-key", payment.pk),
                PaymentAttempt.objects.filter(pk=attempt.pk),
                (),
            ),
            (
                lifecycle._attempt_of_key_or_last,
                (attempt.client_key, payment.pk),
                PaymentAttempt.objects.filter(pk=attempt.pk),
                (),
            ),
        ]
        for read, args, expected, related in reads:
            assert read.prepared(*args), read.build  # compiled on this database, not the ORM fallback
            with transaction.atomic():  # the payment is read under its lock inside a transaction
                found = read.rows(*args)
            _same_rows(found, list(expected), *related)
    assert donations_actions._donation_by_key.first("never-sent") is None
    assert _transitions._payment_for_update.first(10**9) is None


def test_a_missing_payment_is_not_found_on_the_page_nor_under_the_lock(client):
    assert client.get("/pagamenti/no-such-token/").status_code == 404
    with pytest.raises(Payment.DoesNotExist), transaction.atomic():
        _transitions._locked(10**9)


def _orm_total(person_id: int, year: int, path: str) -> int:
    """Rules F6/F14 by the channel queries themselves, summed without the compiled statement."""
    finance = rules_on()
    entity = rules.cap_entity_path(path, finance)
    total, queries = 0, []
    for name, (kind, source) in rules._SOURCES.items():
        if kind == "fee" and not finance.fees_count:
            continue
        query = rules._QUERIES[name](person_id, year, entity) if name in rules._QUERIES else None
        if query is None:
            total += source(person_id, year, entity)
        else:
            queries.append(query)
    return total + sum_of_totals(queries)


def test_the_f6_totals_statement_is_compiled_once_and_binds_each_persons_id(live_campaign):
    first, second = _gift(live_campaign, 2500, n=1), _gift(live_campaign, 1000, n=2)
    _gift(live_campaign, 700, n=2)
    year, path = first.succeeded_at.year, live_campaign.territory.path
    totals = {}
    for donation in (first, second):
        totals[donation.person_id] = annual_total_cents(donation.person_id, year, path, rules_on())
        assert totals[donation.person_id] == _orm_total(donation.person_id, year, path)
    assert totals == {first.person_id: 2500, second.person_id: 1700}
    assert annual_total_cents(first.person_id, year - 1, path, rules_on()) == 0  # another year, another shape
    finance = rules_on()
    entity = rules.cap_entity_path(path, finance)
    channels = tuple((name, kind, rules._QUERIES.get(name)) for name, (kind, _s) in rules._SOURCES.items())
    assert rules._TOTALS.prepared(first.person_id, year, entity, finance.fees_count, channels)
    built: list[int] = []
    original = rules._TOTALS.build

    def counting(*args: Any) -> Any:
        built.append(args[0])
        return original(*args)

    rules._TOTALS.build = counting
    try:
        assert annual_total_cents(second.person_id, year, path, rules_on()) == 1700
        assert built == []  # compiled already: bound, not rebuilt
        funding = django_apps.get_app_config("funding")  # a migration (or a test's flush) forgets it
        post_migrate.send(
            sender=funding, app_config=funding, verbosity=0, interactive=False, using="default", apps=django_apps
        )
        assert annual_total_cents(second.person_id, year, path, rules_on()) == 1700
        assert len(built) == 2  # compiled again, with the two probe values
    finally:
        rules._TOTALS.build = original


def test_a_channel_registered_later_counts_toward_the_f6_total(live_campaign):
    gift = _gift(live_campaign, 2500, n=1)
    year, path = gift.succeeded_at.year, live_campaign.territory.path
    assert annual_total_cents(gift.person_id, year, path, rules_on()) == 2500
    rules.register_contribution_source("test.shop", "donation", lambda person_id, year, path: 300)
    try:
        assert annual_total_cents(gift.person_id, year, path, rules_on()) == 2800
    finally:
        rules._SOURCES.pop("test.shop", None)
        rules._COVERED.pop("test.shop", None)
    assert annual_total_cents(gift.person_id, year, path, rules_on()) == 2500


def test_the_year_is_the_shape_not_a_bound_value(live_campaign):
    """The F6 year becomes a date range in the SQL: a statement per year, never a wrong bound year."""
    gift = _gift(live_campaign, 2500, n=1)
    path = live_campaign.territory.path
    year = gift.succeeded_at.year
    assert [annual_total_cents(gift.person_id, y, path, rules_on()) for y in (year, year + 1, year)] == [2500, 0, 2500]
