"""The mandatario's books (rules F10, F11, F12, F15), 2×1000 (F9) and company donors (F13),
through the pages officials, mandatari and donors use."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from piazza.compliance import actions, candidate_books, twoxthousand
from piazza.compliance.candidates import overview
from piazza.compliance.models import CandidateExpense, ExpenseCategory, LegalGiver, TwoPerThousandEntry
from piazza.compliance.tests import journey
from piazza.core.models import AuditEntry, AuditKind
from piazza.core.money import Money
from piazza.funding.models import CampaignKind, Donation
from piazza.funding.tests.conftest import build_live_campaign
from piazza.funding.tests.flows import COMPANY_VAT, card, company_form_data, give
from piazza.ledger.accounts import get_account
from piazza.ledger.models import LedgerTransaction
from piazza.ledger.queries import balances
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.fixture
def federation(tree):
    return make_official("organizzazione.bo", tree.bologna, [Role.ORGANISATION])


@pytest.fixture
def treasurer(tree):
    return make_official("tesoreria.bo", tree.bologna, [Role.TREASURY])


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = str(tmp_path / "private")


def _category(code="propaganda"):
    candidate_books.ensure_categories()  # a transactional test elsewhere may have flushed the seeded rows
    return ExpenseCategory.objects.get(code=code)


def _expense_post(client, candidacy, amount="1200", key="k1", **over):
    data = {
        "supplier": "Tipografia Rossi",
        "description": "Manifesti 70x100",
        "amount": amount,
        "incurred_on": "2026-06-01",
        "idempotency_key": key,
        "category": _category().pk,
        "receipt": SimpleUploadedFile("fattura.pdf", PDF, content_type="application/pdf"),
    }
    data.update(over)
    return client.post(
        reverse("compliance:expense", args=[candidacy.pk]), {k: v for k, v in data.items() if v is not None}
    )


# --- expenses: category and receipt (F11) -----------------------------------------------------


def test_the_categories_are_a_parameter_list_seeded_with_the_declarations_items():
    _category()
    labels = list(candidate_books.categories().values_list("label", flat=True))
    assert labels[0] == "Materiale e mezzi di propaganda" and "Personale" in labels and labels[-1] == "Altre spese"


def test_an_expense_is_booked_with_its_category_and_receipt_and_the_receipt_download_is_audited(
    tree, federation, treasurer, check_ledger
):
    """Rule F11: the expense carries its category; the receipt sits in private storage."""
    candidacy = journey.candidacy(tree, federation)
    client = verified_client(treasurer)
    assert _expense_post(client, candidacy).status_code == 302
    expense = CandidateExpense.objects.get()
    assert expense.category == _category() and expense.receipt.name.endswith(".pdf")
    page = client.get(reverse("compliance:candidacy", args=[candidacy.pk])).content.decode()
    assert "Materiale e mezzi di propaganda" in page
    download = client.get(reverse("compliance:expense_receipt", args=[expense.pk]))
    assert download.status_code == 200 and download.content == PDF
    assert AuditEntry.objects.filter(action="compliance.view_expense_receipt", kind=AuditKind.VIEW).exists()
    modena = verified_client(make_official("tesoreria.mo", tree.modena, [Role.TREASURY]))
    assert modena.get(reverse("compliance:expense_receipt", args=[expense.pk])).status_code == 404


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"receipt": None}, "Allega il giustificativo"),
        ({"receipt": SimpleUploadedFile("virus.pdf", b"MZ\x90\x00", content_type="application/pdf")}, "non è un PDF"),
        ({"receipt": SimpleUploadedFile("nota.txt", b"hello", content_type="text/plain")}, "PDF, JPG o PNG"),
        ({"category": "999999"}, "errorlist"),
    ],
)
def test_an_expense_without_a_valid_receipt_or_category_is_refused_and_nothing_is_booked(
    tree, federation, treasurer, over, message
):
    candidacy = journey.candidacy(tree, federation)
    response = _expense_post(verified_client(treasurer), candidacy, **over)
    assert response.status_code == 200 and message in response.content.decode()
    assert not CandidateExpense.objects.exists() and not LedgerTransaction.objects.exists()


def test_the_cap_is_still_enforced_on_categorised_expenses(tree, federation, treasurer, check_ledger):
    """Rule F11: the spending cap holds whatever the category."""
    candidacy = journey.candidacy(tree, federation, spending_cap_cents=1_000_00)
    client = verified_client(treasurer)
    assert _expense_post(client, candidacy, amount="900", key="a").status_code == 302
    refused = _expense_post(client, candidacy, amount="200", key="b", category=_category("personale").pk)
    assert "oltre il tetto di spesa" in refused.content.decode()
    assert CandidateExpense.objects.count() == 1


# --- the declaration: deadline, PDF, annexes (F11, F12, F15) ------------------------------------


@pytest.mark.clock("2026-08-01 10:00")
def test_the_deadline_runs_three_months_from_the_proclamation_and_shows_days_left(tree, federation):
    """Rule F11: due within 3 months (a parameter) of the proclamation; F15: no sanction shown."""
    candidacy = journey.candidacy(tree, federation)
    client = verified_client(federation)
    page = client.get(reverse("compliance:candidacy", args=[candidacy.pk])).content.decode()
    assert "indicala quando è nota" in page
    response = client.post(reverse("compliance:proclamation", args=[candidacy.pk]), {"proclaimed_on": "2026-07-02"})
    assert response.status_code == 302
    candidacy.refresh_from_db()
    deadline = candidate_books.declaration_deadline(candidacy)
    assert deadline is not None and deadline.due_on == dt.date(2026, 10, 2) and deadline.days_left == 62
    page = client.get(reverse("compliance:candidacy", args=[candidacy.pk])).content.decode()
    section = page[page.index('id="dichiarazione"') :]
    assert "2 ottobre 2026" in section.lower() and "Mancano 62 giorni" in section, section[:1500]
    assert "sanzion" not in page.lower()
    assert AuditEntry.objects.filter(action="compliance.set_proclamation").exists()


@pytest.mark.clock("2026-11-12 10:00")
def test_a_late_declaration_shows_how_late_it_is(tree, federation):
    candidacy = journey.candidacy(tree, federation)
    candidate_books.set_proclamation(actor=federation, candidacy=candidacy, proclaimed_on=dt.date(2026, 7, 31))
    candidacy.refresh_from_db()
    deadline = candidate_books.declaration_deadline(candidacy)
    assert deadline is not None and deadline.due_on == dt.date(2026, 10, 31) and deadline.days_late == 12
    page = verified_client(federation).get(reverse("compliance:candidacy", args=[candidacy.pk])).content.decode()
    assert "In ritardo di 12 giorni" in page


def test_a_proclamation_before_the_election_day_is_refused(tree, federation):
    candidacy = journey.candidacy(tree, federation)
    with pytest.raises(ValidationError, match="non può precedere il giorno delle elezioni"):
        candidate_books.set_proclamation(actor=federation, candidacy=candidacy, proclaimed_on=dt.date(2026, 6, 1))
    candidacy.refresh_from_db()
    assert candidacy.proclaimed_on is None


def test_an_expense_without_receipt_blocks_the_declaration_until_one_is_attached(
    tree, federation, treasurer, check_ledger
):
    """Rule F11: every expense is annexed with its receipt; the PDF waits for it."""
    candidacy = journey.candidacy(tree, federation)
    expense = actions.book_candidate_expense(
        actor=treasurer,
        candidacy=candidacy,
        description="Sala",
        supplier="Circolo Arci",
        amount=Money(300_00),
        incurred_on=dt.date(2026, 6, 3),
        idempotency_key="sala",
        category=_category("manifestazioni"),
    )
    client = verified_client(treasurer)
    blocked = client.get(reverse("compliance:declaration_pdf", args=[candidacy.pk]), follow=True)
    assert "mancano categoria o giustificativo" in blocked.content.decode()
    assert not AuditEntry.objects.filter(action="compliance.export_declaration_pdf").exists()
    upload = client.post(
        reverse("compliance:expense_receipt_upload", args=[expense.pk]),
        {"receipt": SimpleUploadedFile("sala.png", PNG, content_type="image/png")},
    )
    assert upload.status_code == 302
    pdf = client.get(reverse("compliance:declaration_pdf", args=[candidacy.pk]))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and pdf["Content-Type"] == "application/pdf"
    assert AuditEntry.objects.filter(action="compliance.export_declaration_pdf", kind=AuditKind.EXPORT).exists()


def test_the_declaration_lists_itemised_income_and_zips_receipts_and_joint_declarations(
    tree, federation, treasurer, check_ledger
):
    """Rules F11 and F12: the natural person above 5,000 € by name, the small gifts in one line;
    the annexes are the expense receipts and the joint declaration, all in the zip."""
    candidacy = journey.candidacy(tree, federation)
    owner = make_official("tesoriere.centro", tree.bologna_centro, [Role.ORGANISATION, Role.TREASURY])
    approver = make_official("approva.bo", tree.bologna, [Role.ORGANISATION, Role.TREASURY])
    campaign = build_live_campaign(tree, owner, approver, kind=CampaignKind.CANDIDATE, candidacy=candidacy)
    big = give(campaign, 6_000_00)
    assert big.person is not None
    give(campaign, 40_00, n=2)
    client = verified_client(treasurer)
    assert _expense_post(client, candidacy).status_code == 302
    actions.add_joint_declaration(
        actor=treasurer,
        candidacy=candidacy,
        donor=big.person,
        document=SimpleUploadedFile("congiunta.pdf", PDF, content_type="application/pdf"),
        signed_on=dt.date(2026, 6, 5),
    )
    figures = overview(candidacy)
    lines = candidate_books.income_lines(figures)
    assert [(line.name, line.cents) for line in lines] == [("Giulia Rossi", 6_000_00), ("", 40_00)]
    assert [a.label for a in candidate_books.annexes(candidacy)] == [
        "Giustificativo: Tipografia Rossi, 1.200,00 € del 01/06/2026",
        "Dichiarazione congiunta di Giulia Rossi",
    ]
    page = client.get(reverse("compliance:candidacy", args=[candidacy.pk])).content.decode()
    assert "Scarica la dichiarazione (PDF)" in page
    archive = client.get(reverse("compliance:declaration_annexes", args=[candidacy.pk]))
    assert archive.status_code == 200
    with zipfile.ZipFile(io.BytesIO(archive.content)) as opened:
        names = opened.namelist()
        assert names[0].startswith("01-spesa-") and names[1].startswith("02-dichiarazione-")
        assert opened.read(names[1]) == PDF
    assert AuditEntry.objects.filter(action="compliance.export_declaration_annexes", kind=AuditKind.EXPORT).exists()


# --- the mandatario's own account (F10) ----------------------------------------------------------


def test_the_mandatario_sees_the_books_of_their_candidacy_and_nothing_else(tree, federation, treasurer):
    user = get_user_model().objects.create_user(username="laura.neri")
    candidacy = journey.candidacy(tree, federation, with_mandatario=False)
    mandatario = journey.person("Laura", "Neri", tree.bologna_centro, born="03/07/1975")
    actions.name_mandatario(
        actor=federation, candidacy=candidacy, person=mandatario, iban=journey.MANDATARIO_IBAN, user=user
    )
    _expense_post(verified_client(treasurer), candidacy)
    other = actions.create_candidacy(
        actor=federation,
        territory=tree.bologna,
        election_kind="municipal",
        candidate=journey.person("Paolo", "Gialli", tree.bologna_centro, sex="M"),
        election="Comunali Bologna 2027",
        constituency="Comune di Bologna",
    )
    client = verified_client(user)
    home = client.get(reverse("compliance:my_mandates")).content.decode()
    assert "Giovanna Esposito" in home and "Paolo Gialli" not in home
    page = client.get(reverse("compliance:mandate", args=[candidacy.pk]))
    assert page.status_code == 200 and "Tipografia Rossi" in page.content.decode()
    assert AuditEntry.objects.filter(action="compliance.view_mandate_books", kind=AuditKind.VIEW).exists()
    assert client.get(reverse("compliance:declaration_pdf", args=[candidacy.pk])).status_code == 200
    for name in ("mandate", "declaration_pdf", "declaration_annexes"):
        assert client.get(reverse(f"compliance:{name}", args=[other.pk])).status_code == 404
    assert client.get(reverse("compliance:candidacy", args=[candidacy.pk])).status_code == 403  # no back office
    assert (
        client.post(
            reverse("compliance:proclamation", args=[candidacy.pk]), {"proclaimed_on": "2026-07-01"}
        ).status_code
        == 403
    )
    assert verified_client(federation).get(reverse("compliance:mandate", args=[candidacy.pk])).status_code == 404


# --- 2×1000 (F9) ------------------------------------------------------------------------------


@pytest.fixture
def national_treasurer(tree):
    return make_official("tesoreria.nazionale", tree.national, [Role.TREASURY])


@pytest.mark.clock("2026-09-01 10:00")
def test_two_per_thousand_is_booked_once_per_year_and_corrected_by_reversal(tree, national_treasurer, check_ledger):
    """Rule F9: an aggregate per year, income of the national level; the same figures again book
    nothing; a correction reverses the entry in force and books a new one, never an edit."""
    client = verified_client(national_treasurer)
    url = reverse("compliance:two_per_thousand")
    data = {"year": "2025", "amount": "123456,78", "choices": "4321", "received_on": "2026-07-15", "note": ""}
    assert client.post(url, data).status_code == 302
    assert client.post(url, data).status_code == 302  # the same figures again
    entry = TwoPerThousandEntry.objects.get()
    income = get_account("territory", territory=tree.national, key=twoxthousand.INCOME_KEY)
    assert balances([income])[income.pk].cents == 123_456_78
    assert client.post(url, {**data, "amount": "120000", "note": "rettifica AdE"}).status_code == 302
    entry.refresh_from_db()
    assert not entry.in_force and entry.superseded_by is not None and entry.reversal_transaction is not None
    assert entry.amount_cents == 123_456_78  # the first entry is never edited
    assert balances([income])[income.pk].cents == 120_000_00
    assert [(t.year, t.amount_cents, t.choices) for t in twoxthousand.two_per_thousand_by_year()] == [
        (2025, 120_000_00, 4321)
    ]
    page = client.get(url).content.decode()
    assert "120.000,00" in page and "stornata e sostituita" in page


def test_f9_two_per_thousand_holds_aggregates_never_identities(tree, national_treasurer):
    """Rule F9: the party receives money, not identities — the 2×1000 record links to no person
    and the page asks only for the year's amount and number of choices."""
    from piazza.people.models import Person

    relations = {f.related_model for f in TwoPerThousandEntry._meta.get_fields() if f.is_relation}
    assert Person not in relations
    text = verified_client(national_treasurer).get(reverse("compliance:two_per_thousand")).content.decode()
    for identity in ("codice_fiscale", "first_name", "last_name", "email"):
        assert f'name="{identity}"' not in text


def test_only_the_national_treasury_enters_the_two_per_thousand(tree, treasurer):
    client = verified_client(treasurer)
    url = reverse("compliance:two_per_thousand")
    assert client.get(url).status_code == 200  # the figures are aggregates, readable
    data = {"year": "2025", "amount": "1000", "received_on": "2026-07-15"}
    assert client.post(url, data).status_code == 403
    with pytest.raises(PermissionDenied):
        twoxthousand.record_two_per_thousand(
            actor=treasurer, year=2025, amount=Money(1000_00), received_on=dt.date(2026, 7, 15)
        )
    assert not TwoPerThousandEntry.objects.exists()


@pytest.mark.clock("2026-09-01 10:00")
@pytest.mark.parametrize(
    ("over", "message"),
    [({"year": "2013"}, "tra il 2014 e il 2026"), ({"received_on": "2026-12-01"}, "nel futuro")],
)
def test_bad_two_per_thousand_input_is_refused_with_what_to_fix(tree, national_treasurer, over, message):
    data = {"year": "2025", "amount": "1000", "received_on": "2026-07-15", **over}
    response = verified_client(national_treasurer).post(reverse("compliance:two_per_thousand"), data)
    assert response.status_code == 400 and message in response.content.decode()
    assert not TwoPerThousandEntry.objects.exists() and not LedgerTransaction.objects.exists()


# --- company donors (F13) through the public donation form --------------------------------------


@pytest.fixture
def candidate_campaign(tree, federation):
    candidacy = journey.candidacy(tree, federation)
    owner = make_official("tesoriere.centro", tree.bologna_centro, [Role.ORGANISATION, Role.TREASURY])
    approver = make_official("approva.bo", tree.bologna, [Role.ORGANISATION, Role.TREASURY])
    return candidacy, build_live_campaign(tree, owner, approver, kind=CampaignKind.CANDIDATE, candidacy=candidacy)


@pytest.mark.clock("2026-06-10 10:00")
def test_a_company_gives_through_the_public_form_with_its_resolution_and_is_itemised(
    client, tree, federation, candidate_campaign, check_ledger
):
    """Rule F13: the company path records the entity, its resolution and attestations; rule F11:
    a company is itemised by name in the candidate's books whatever the amount."""
    candidacy, campaign = candidate_campaign
    page = client.get(reverse("funding:donate", args=[campaign.slug])).content.decode()
    assert reverse("funding:donate_legal_person", args=[campaign.slug]) in page
    assert client.get(reverse("funding:donate_legal_person", args=[campaign.slug])).status_code == 200
    response = client.post(
        reverse("funding:donate_legal_person", args=[campaign.slug]), company_form_data(campaign, "2000")
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    paid = client.post(response["Location"], card())
    assert paid.status_code == 302
    donation = Donation.objects.get()
    giver = LegalGiver.objects.for_object(donation).get()
    assert giver.legal_name == "Tipografia Emiliana srl" and giver.entity_code == COMPANY_VAT
    assert set(giver.attestations) == {"not_public_body", "not_public_control", "board_resolution", "not_foreign"}
    assert giver.resolution.read() == PDF and str(giver.threshold_percent) == "20.00"
    assert AuditEntry.objects.filter(action="funding.legal_giver").exists()
    lines = candidate_books.income_lines(overview(candidacy))
    assert [(line.name, line.code, line.cents) for line in lines] == [("Tipografia Emiliana srl", COMPANY_VAT, 2000_00)]


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"public_capital": "25"}, "più del 20% di capitale pubblico"),
        ({"legal_attest_not_public_body": None}, "Gli enti pubblici non possono finanziare i partiti"),
        ({"legal_attest_not_public_control": None}, "controllate da enti pubblici"),
        ({"resolution": None}, "Allega la delibera"),
        ({"entity_code": "01234567890"}, "non valido: sono 11 cifre"),
        (
            {"resolution": SimpleUploadedFile("delibera.pdf", b"not a pdf", content_type="application/pdf")},
            "non è un PDF",
        ),
    ],
)
def test_a_legal_person_that_may_not_give_is_refused_with_the_reason_and_nothing_is_written(
    client, tree, candidate_campaign, over, message
):
    """Rule F13: public bodies, companies under public control or above the public-capital
    threshold, and gifts without the board resolution are refused before anything is written."""
    _candidacy, campaign = candidate_campaign
    response = client.post(
        reverse("funding:donate_legal_person", args=[campaign.slug]), company_form_data(campaign, "2000", **over)
    )
    text = response.content.decode()
    assert response.status_code == 400 and message in text, text[text.find("error") - 200 :][:3000]
    assert not Donation.objects.exists() and not LegalGiver.objects.exists()


def test_the_public_capital_threshold_is_a_parameter(tree, candidate_campaign, client):
    """Rule F13: with the threshold lowered to 10%, a company with 15% public capital is refused."""
    from piazza.compliance.models import FinanceRuleSet

    FinanceRuleSet.objects.create(valid_from=dt.date(2020, 1, 1), public_capital_threshold_percent=10)
    _candidacy, campaign = candidate_campaign
    response = client.post(
        reverse("funding:donate_legal_person", args=[campaign.slug]),
        company_form_data(campaign, "2000", public_capital="15"),
    )
    assert "più del 10% di capitale pubblico" in response.content.decode()
    assert not Donation.objects.exists()
