"""The annual tax statement (rules F7, F8; issue 13): figures, versions, the background run, the
donor's download from Il mio spazio and the officials' audited download.

The F7/F8 figures are driven through a test line source (cash and anonymous lines do not exist in
the donation channel, which refuses cash); versions, emails and downloads through real gifts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from piazza.community.tests.conftest import DONOR_EMAIL, sign_in
from piazza.compliance import contributions
from piazza.compliance.contributions import ContributionLine
from piazza.compliance.models import (
    FinanceRuleSet,
    TaxStatement,
    TaxStatementChunk,
    TaxStatementRun,
    TaxStatementRunStatus,
)
from piazza.compliance.tax_statements.actions import generate
from piazza.compliance.tax_statements.actions.runs import resume_tax_statements, start_tax_statements
from piazza.compliance.tax_statements.figures import EXCLUSION_REASONS, credit_cents
from piazza.compliance.tax_statements.pdf import statement_pdf
from piazza.core.models import AuditEntry, AuditKind
from piazza.funding.tests.conftest import build_live_campaign
from piazza.funding.tests.flows import give, payment_of
from piazza.payments.actions.refunds import refund_payment
from piazza.people.models import Person
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = pytest.mark.django_db

YEAR = 2026  # the frozen clock's year (10 June 2026)


# --- helpers -----------------------------------------------------------------------------------


@pytest.fixture
def fake_lines(monkeypatch: pytest.MonkeyPatch) -> list[ContributionLine]:
    """Replace every registered channel by a list the test fills (same filters as a real source)."""
    lines: list[ContributionLine] = []

    def source(year: int, entity_path: str, person_ids: Any) -> Iterator[ContributionLine]:
        for line in lines:
            if line.received_at.year != year or not line.territory_path.startswith(entity_path):
                continue
            if person_ids is None or line.person_id in person_ids:
                yield line

    monkeypatch.setattr(contributions, "_LINE_SOURCES", {"test": source})
    return lines


def person(n: int, tree: Any) -> Person:
    return Person.objects.create(first_name=f"Dona{n}", last_name="Tore", territory=tree.bologna_centro)


_ids = iter(range(1, 10_000))


def line(
    who: Person | None,
    where: Any,
    cents: int,
    *,
    method: str = "card",
    anonymous: bool = False,
    kind: str = "donation",
    day: dt.date = dt.date(YEAR, 3, 1),
) -> ContributionLine:
    return ContributionLine(
        source="test.gift",
        source_id=next(_ids),
        person_id=who.pk if who else None,
        kind=kind,
        territory_id=where.pk,
        territory_path=where.path,
        amount_cents=cents,
        received_at=timezone.make_aware(dt.datetime.combine(day, dt.time(12))),
        method=method,
        anonymous=anonymous,
    )


@pytest.fixture
def treasurer(tree: Any) -> Any:
    return make_official("tesoreria.nazionale", tree.national, [Role.TREASURY])


@pytest.fixture
def campaign(tree: Any) -> Any:
    owner = make_official("tesoriere.centro", tree.bologna_centro, [Role.ORGANISATION, Role.TREASURY])
    approver = make_official("federazione.bo", tree.bologna, [Role.ORGANISATION, Role.TREASURY])
    return build_live_campaign(tree, owner, approver)


def run_year(actor: Any, capture: Any, year: int = YEAR) -> TaxStatementRun:
    """Start the run as the back office does; the inline worker plans, generates and emails."""
    with capture(execute=True):
        run = start_tax_statements(actor=actor, year=year)
    run.refresh_from_db()
    return run


def latest(who: Person, entity: Any) -> TaxStatement:
    return TaxStatement.objects.filter(person=who, entity=entity, year=YEAR).order_by("-version").first()  # type: ignore[return-value]


# --- F7: floor, ceiling, rate ------------------------------------------------------------------


def test_f7_floor_below_thirty_euro_gives_no_credit_and_thirty_does(
    tree, treasurer, fake_lines, django_capture_on_commit_callbacks
):
    below, at_floor = person(1, tree), person(2, tree)
    fake_lines += [
        line(below, tree.bologna, 2_999),
        line(at_floor, tree.bologna, 1_500),
        line(at_floor, tree.bologna, 1_500),
    ]
    run_year(treasurer, django_capture_on_commit_callbacks)

    small = latest(below, tree.bologna)
    assert (small.traceable_cents, small.deductible_cents, small.credit_cents) == (2_999, 0, 0)  # rule F7
    floor = latest(at_floor, tree.bologna)
    assert (floor.traceable_cents, floor.deductible_cents, floor.credit_cents) == (3_000, 3_000, 780)  # 26% of €30


def test_f7_ceiling_thirty_thousand_euro_and_the_rate_of_26_percent(
    tree, treasurer, fake_lines, django_capture_on_commit_callbacks
):
    big, mid = person(1, tree), person(2, tree)
    fake_lines += [
        line(big, tree.bologna, 25_000_00),
        line(big, tree.bologna, 15_000_00),
        line(mid, tree.bologna, 12_345),
    ]
    run_year(treasurer, django_capture_on_commit_callbacks)

    capped = latest(big, tree.bologna)
    assert capped.total_cents == 40_000_00 and capped.deductible_cents == 30_000_00  # rule F7 ceiling
    assert capped.credit_cents == 7_800_00 and capped.rate_bp == 2600
    # 26% of €123.45 = €32.097 → €32.10 (half up, integer cents)
    assert latest(mid, tree.bologna).credit_cents == 32_10


def test_f7_rounding_is_half_up_in_integer_cents():
    assert credit_cents(25, 2600) == 7  # 6.5 cents → 7
    assert credit_cents(12_345, 2600) == 3_210
    assert credit_cents(3_000_000, 2600) == 780_000
    assert credit_cents(0, 2600) == 0


def test_f7_parameters_come_from_the_rule_set(tree, treasurer, fake_lines, django_capture_on_commit_callbacks):
    """Open rules are parameters: a rule set in force at the end of the year changes rate, floor and ceiling."""
    FinanceRuleSet.objects.create(
        valid_from=dt.date(YEAR, 1, 1),
        tax_credit_rate_bp=1900,
        tax_credit_floor_cents=50_00,
        tax_credit_ceiling_cents=100_00,
    )
    a, b = person(1, tree), person(2, tree)
    fake_lines += [line(a, tree.bologna, 40_00), line(b, tree.bologna, 200_00)]
    run_year(treasurer, django_capture_on_commit_callbacks)
    assert latest(a, tree.bologna).deductible_cents == 0  # under the €50 floor
    capped = latest(b, tree.bologna)
    assert (capped.deductible_cents, capped.credit_cents, capped.rate_bp) == (100_00, 19_00, 1900)


# --- F8: traceable payments, qualifying entities -------------------------------------------------


def test_f8_cash_is_excluded_with_the_reason_in_words(tree, treasurer, fake_lines, django_capture_on_commit_callbacks):
    who = person(1, tree)
    fake_lines += [line(who, tree.bologna, 100_00), line(who, tree.bologna, 50_00, method="cash")]
    run_year(treasurer, django_capture_on_commit_callbacks)

    statement = latest(who, tree.bologna)
    assert (statement.total_cents, statement.excluded_cents, statement.traceable_cents) == (150_00, 50_00, 100_00)
    assert statement.credit_cents == 26_00  # rule F8: only the card gift counts
    assert [(row["method"], row["excluded"]) for row in statement.lines] == [("card", ""), ("cash", "cash")]
    assert "contanti" in str(EXCLUSION_REASONS["cash"])


def test_f8_anonymous_gifts_are_excluded(tree, treasurer, fake_lines, django_capture_on_commit_callbacks):
    who = person(1, tree)
    fake_lines += [
        line(who, tree.bologna, 100_00, anonymous=True),
        line(who, tree.bologna, 40_00),
        line(None, tree.bologna, 500_00),  # nobody to address a statement to
    ]
    run = run_year(treasurer, django_capture_on_commit_callbacks)

    statement = latest(who, tree.bologna)
    assert (statement.excluded_cents, statement.traceable_cents, statement.credit_cents) == (100_00, 40_00, 10_40)
    assert [row["excluded"] for row in statement.lines] == ["anonymous", ""]
    assert run.total == 1 and TaxStatement.objects.count() == 1


def test_f8_a_circolos_gifts_count_for_the_qualifying_ancestor(
    tree, treasurer, fake_lines, django_capture_on_commit_callbacks
):
    who = person(1, tree)
    fake_lines += [
        line(who, tree.bologna_centro, 20_00),
        line(who, tree.bologna_navile, 20_00),
        line(who, tree.bologna, 10_00),
        line(who, tree.national, 60_00),
    ]
    run_year(treasurer, django_capture_on_commit_callbacks)

    federation = latest(who, tree.bologna)
    assert federation.total_cents == 50_00 and federation.credit_cents == 13_00  # two circoli + the federation
    assert latest(who, tree.national).total_cents == 60_00
    assert not TaxStatement.objects.filter(entity__in=[tree.bologna_centro, tree.bologna_navile]).exists()


def test_f8_which_levels_qualify_is_a_parameter(tree, treasurer, fake_lines, django_capture_on_commit_callbacks):
    FinanceRuleSet.objects.create(valid_from=dt.date(YEAR, 1, 1), tax_credit_levels="national,region")
    who = person(1, tree)
    fake_lines += [line(who, tree.bologna_centro, 40_00), line(who, tree.modena_nord, 10_00)]
    run_year(treasurer, django_capture_on_commit_callbacks)
    assert latest(who, tree.emilia).total_cents == 50_00  # both federations sit in Emilia-Romagna
    assert not TaxStatement.objects.filter(entity=tree.bologna).exists()


def test_fees_are_left_out_by_default_and_counted_when_the_parameter_says_so(
    tree, treasurer, fake_lines, django_capture_on_commit_callbacks
):
    who = person(1, tree)
    fake_lines += [line(who, tree.bologna, 40_00), line(who, tree.bologna, 20_00, kind="fee")]
    run_year(treasurer, django_capture_on_commit_callbacks)
    assert latest(who, tree.bologna).total_cents == 40_00  # rule F7/F14: a fee is not a gift by default

    FinanceRuleSet.objects.create(valid_from=dt.date(YEAR, 1, 1), tax_credit_fees_count=True)
    run_year(treasurer, django_capture_on_commit_callbacks)
    counted = latest(who, tree.bologna)
    assert (counted.version, counted.total_cents) == (2, 60_00)


# --- versions, idempotence, the run --------------------------------------------------------------


@pytest.mark.usefixtures("check_ledger")
def test_a_refund_makes_a_new_version_and_a_rerun_changes_nothing(
    tree, treasurer, campaign, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        kept = give(campaign, 100_00)
        refunded = give(campaign, 50_00)
    donor = kept.person
    assert donor is not None and refunded.person_id == donor.pk
    mail.outbox.clear()

    first = run_year(treasurer, django_capture_on_commit_callbacks)
    v1 = latest(donor, tree.bologna)  # the circolo's campaign counts for the federation (F8)
    assert v1.version == 1 and v1.total_cents == 150_00 + kept.fee_cover_cents + refunded.fee_cover_cents
    assert (first.status, first.created, first.emailed) == (TaxStatementRunStatus.DONE, 1, 1)
    ready = [m for m in mail.outbox if m.to == [DONOR_EMAIL]]
    assert len(ready) == 1 and "/il-mio-spazio/" in str(ready[0].body) and not ready[0].attachments

    again = run_year(treasurer, django_capture_on_commit_callbacks)
    assert (again.created, again.unchanged, again.emailed) == (0, 1, 0)  # idempotent: no version, no email
    assert TaxStatement.objects.filter(person=donor).count() == 1

    with django_capture_on_commit_callbacks(execute=True):
        refund_payment(actor=None, payment=payment_of(refunded), reason="richiesta del donatore")
    mail.outbox.clear()
    third = run_year(treasurer, django_capture_on_commit_callbacks)
    v2 = latest(donor, tree.bologna)
    assert v2.version == 2 and v2.total_cents == 100_00 + kept.fee_cover_cents
    assert v2.credit_cents == credit_cents(v2.deductible_cents, 2600)
    assert third.created == 1 and len([m for m in mail.outbox if m.to == [DONOR_EMAIL]]) == 1
    v1.refresh_from_db()
    assert v1.total_cents == 150_00 + kept.fee_cover_cents + refunded.fee_cover_cents  # never edited


def test_the_run_reports_its_progress_chunk_by_chunk(tree, treasurer, fake_lines, settings):
    settings.TAX_STATEMENTS_CHUNK_SIZE = 2
    donors = [person(n, tree) for n in range(5)]
    fake_lines += [line(d, tree.bologna, 40_00) for d in donors]
    run = TaxStatementRun.objects.create(year=YEAR, territory=tree.national)

    chunk_ids = generate.plan_tax_statements(actor=None, run_id=run.pk)
    run.refresh_from_db()
    assert (len(chunk_ids), run.total, run.done, run.progress_percent) == (3, 5, 0, 0)
    client = verified_client(treasurer)
    page = client.get(reverse("compliance:tax_run", args=[run.pk]))
    assert 'hx-trigger="every 2s"' in page.content.decode() and "0 donatori su 5" in page.content.decode()

    generate.generate_tax_statement_chunk(actor=None, chunk_id=chunk_ids[0])
    run.refresh_from_db()
    assert (run.done, run.progress_percent, run.status) == (2, 40, TaxStatementRunStatus.RUNNING)
    fragment = client.get(reverse("compliance:tax_run", args=[run.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert "2 donatori su 5" in fragment and '<progress id="tax-bar" max="100" value="40">' in fragment

    assert generate.generate_tax_statement_chunk(actor=None, chunk_id=chunk_ids[0]) == []  # a retry does nothing
    for chunk_id in chunk_ids[1:]:
        generate.generate_tax_statement_chunk(actor=None, chunk_id=chunk_id)
    run.refresh_from_db()
    assert (run.done, run.created, run.status, run.progress_percent) == (5, 5, TaxStatementRunStatus.DONE, 100)
    done = client.get(reverse("compliance:tax_run", args=[run.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert "hx-get" not in done and "5 dichiarazioni nuove o aggiornate" in done


def test_a_failed_chunk_is_reported_and_a_resume_finishes_the_run(
    tree, treasurer, fake_lines, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.TAX_STATEMENTS_CHUNK_SIZE = 1
    good, bad = person(1, tree), person(2, tree)
    fake_lines += [line(good, tree.bologna, 40_00), line(bad, tree.bologna, 40_00)]
    real = contributions._LINE_SOURCES["test"]

    def broken(year: int, entity_path: str, person_ids: Any) -> Iterator[ContributionLine]:
        if person_ids is not None and bad.pk in person_ids:
            raise RuntimeError("database went away")
        yield from real(year, entity_path, person_ids)

    monkeypatch.setitem(contributions._LINE_SOURCES, "test", broken)
    run = run_year(treasurer, django_capture_on_commit_callbacks)
    assert (run.status, run.done, run.failed) == (TaxStatementRunStatus.FAILED, 1, 1)
    assert "database went away" in run.errors[0]
    page = verified_client(treasurer).get(reverse("compliance:tax_run", args=[run.pk])).content.decode()
    assert "riprendi la generazione per riprovare" in page and "database went away" in page

    monkeypatch.setitem(contributions._LINE_SOURCES, "test", real)
    with django_capture_on_commit_callbacks(execute=True):
        resume_tax_statements(actor=treasurer, run=run)
    run.refresh_from_db()
    assert (run.status, run.done, run.failed, run.created) == (TaxStatementRunStatus.DONE, 2, 0, 2)
    assert TaxStatementChunk.objects.filter(run=run, done_at__isnull=True).count() == 0


def test_the_national_treasurer_starts_the_run_from_the_back_office(
    tree, treasurer, fake_lines, django_capture_on_commit_callbacks
):
    fake_lines.append(line(person(1, tree), tree.bologna, 40_00))
    client = verified_client(treasurer)
    page = client.get(reverse("web:dashboard"))
    assert reverse("compliance:tax_statements") in page.content.decode()  # in the navigation
    overview = client.get(reverse("compliance:tax_statements")).content.decode()
    assert f"Genera le dichiarazioni {YEAR}" in overview

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("compliance:tax_start"), {"year": str(YEAR)})
    run = TaxStatementRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("compliance:tax_run", args=[run.pk])
    assert client.get(response["Location"]).content.decode().count("Completata") >= 1


def test_bad_starts_are_refused_with_a_message(tree, treasurer, fake_lines):
    client = verified_client(treasurer)
    for year, message in [("", "delle dichiarazioni da generare"), ("1999", "Scegli un anno tra")]:
        response = client.post(reverse("compliance:tax_start"), {"year": year}, follow=True)
        assert message in response.content.decode()
    TaxStatementRun.objects.create(year=YEAR, territory=tree.national)  # still running
    response = client.post(reverse("compliance:tax_start"), {"year": str(YEAR)}, follow=True)
    assert "già in preparazione" in response.content.decode()
    assert TaxStatementRun.objects.count() == 1

    federation = verified_client(make_official("tesoreria.bologna", tree.bologna, [Role.TREASURY]))
    response = federation.post(reverse("compliance:tax_start"), {"year": str(YEAR)}, follow=True)
    assert "tesoreria nazionale" in response.content.decode()
    assert TaxStatementRun.objects.count() == 1
    assert AuditEntry.objects.filter(action="compliance.start_tax_statements", kind=AuditKind.DENIED).exists()


# --- downloads -------------------------------------------------------------------------------------


def test_the_pdf_is_drawn_from_the_stored_version_and_is_the_same_every_time(
    tree, treasurer, fake_lines, django_capture_on_commit_callbacks
):
    who = person(1, tree)
    fake_lines += [line(who, tree.bologna, 100_00), line(who, tree.bologna, 5_00, method="cash")]
    run_year(treasurer, django_capture_on_commit_callbacks)
    statement = latest(who, tree.bologna)
    first = statement_pdf(statement)
    assert first.startswith(b"%PDF") and first == statement_pdf(TaxStatement.objects.get(pk=statement.pk))


def test_the_donor_downloads_the_statement_from_il_mio_spazio(
    tree, treasurer, campaign, django_capture_on_commit_callbacks, client
):
    with django_capture_on_commit_callbacks(execute=True):
        give(campaign, 100_00)
    run_year(treasurer, django_capture_on_commit_callbacks)
    donor = Person.objects.get(emails__value=DONOR_EMAIL)
    statement = latest(donor, tree.bologna)

    sign_in(client, DONOR_EMAIL, django_capture_on_commit_callbacks)
    home = client.get(reverse("community:home")).content.decode()
    assert "Dichiarazioni per la detrazione" in home
    url = reverse("community:tax_statement", args=[statement.pk])
    assert url in home
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content == statement_pdf(statement)
    assert AuditEntry.objects.filter(
        action="compliance.download_tax_statement", object_id=str(statement.pk), kind=AuditKind.VIEW
    ).exists()


def test_a_stranger_cannot_download_another_persons_statement(
    tree, treasurer, campaign, django_capture_on_commit_callbacks, client
):
    with django_capture_on_commit_callbacks(execute=True):
        give(campaign, 100_00)  # Giulia
        give(campaign, 60_00, n=3)  # another donor
    run_year(treasurer, django_capture_on_commit_callbacks)
    giulia = Person.objects.get(emails__value=DONOR_EMAIL)
    other = TaxStatement.objects.exclude(person=giulia).get()

    assert client.get(reverse("community:tax_statement", args=[other.pk])).status_code == 302  # not signed in
    sign_in(client, DONOR_EMAIL, django_capture_on_commit_callbacks)
    assert client.get(reverse("community:tax_statement", args=[other.pk])).status_code == 404
    assert (
        reverse("community:tax_statement", args=[other.pk])
        not in client.get(reverse("community:home")).content.decode()
    )


def test_treasurers_in_scope_download_any_statement_audited_and_others_cannot(
    tree, treasurer, fake_lines, django_capture_on_commit_callbacks
):
    who = person(1, tree)
    fake_lines.append(line(who, tree.bologna_centro, 40_00))
    run_year(treasurer, django_capture_on_commit_callbacks)
    statement = latest(who, tree.bologna)
    url = reverse("compliance:tax_statement_pdf", args=[statement.pk])

    bologna = verified_client(make_official("tesoreria.bologna", tree.bologna, [Role.TREASURY]))
    listing = bologna.get(reverse("compliance:tax_statements")).content.decode()
    assert url in listing and "Genera le dichiarazioni" not in listing  # only the national level starts runs
    response = bologna.get(url)
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    assert AuditEntry.objects.filter(
        action="compliance.download_tax_statement", kind=AuditKind.EXPORT, actor__username="tesoreria.bologna"
    ).exists()

    modena = verified_client(make_official("tesoreria.modena", tree.modena, [Role.TREASURY]))
    assert modena.get(url).status_code == 404
    assert url not in modena.get(reverse("compliance:tax_statements")).content.decode()
    secretary = verified_client(make_official("segreteria.bologna", tree.bologna, [Role.ORGANISATION]))
    assert secretary.get(url).status_code == 403


def test_a_rule_set_with_an_unknown_level_is_refused_in_the_admin(tree, national_admin):
    """Rule F8's parameter: a typo in the qualifying levels is refused with the words to use."""
    from piazza.compliance.tests.test_admin_actions import RULES

    client = verified_client(national_admin)
    response = client.post(
        reverse("admin:compliance_financeruleset_add"), {**RULES, "tax_credit_levels": "national,provincia"}
    )
    assert response.status_code == 200 and "national, region, federation e circolo" in response.content.decode()
    assert not FinanceRuleSet.objects.exists()
