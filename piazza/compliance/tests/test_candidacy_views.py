"""The candidate journey on the back-office pages (rules F10, F11, F12): candidacy, mandatario,
campaign, expenses against the cap, joint declarations and the end-of-campaign report."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from piazza.compliance import actions
from piazza.compliance.candidate_books import ensure_categories
from piazza.compliance.models import Candidacy, CandidateExpense, ExpenseCategory, JointDeclaration
from piazza.compliance.tests import journey
from piazza.core import replica
from piazza.core.models import AuditEntry, AuditKind
from piazza.core.money import Money
from piazza.core.testing_replica import mirror_fixture  # noqa: F401  (the fixture `mirror`)
from piazza.funding.models import CampaignKind
from piazza.funding.tests.conftest import build_live_campaign
from piazza.funding.tests.flows import give
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def federation(tree):
    return make_official("organizzazione.bo", tree.bologna, [Role.ORGANISATION])


@pytest.fixture
def treasurer(tree):
    return make_official("tesoreria.bo", tree.bologna, [Role.TREASURY])


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = str(tmp_path / "private")


def _create_data(tree, candidate, **over):
    data = {
        "territory": tree.bologna.pk,
        "election_kind": "municipal",
        "election": "Comunali Bologna 2027",
        "candidate_codice_fiscale": candidate.codice_fiscale,
        "constituency": "Comune di Bologna",
        "residents": "387971",
        "elections_called_on": "2026-04-01",
        "election_day": "2026-06-28",
        "spending_cap": "",
    }
    data.update(over)
    return data


# --- create ---------------------------------------------------------------------------------


def test_federation_official_creates_a_candidacy_from_the_back_office(tree, federation):
    """Rule F11: without a typed cap, the legal one (52,000 € + 1 cent per resident) applies."""
    candidate = journey.person("Giovanna", "Esposito", tree.bologna_centro)
    client = verified_client(federation)
    assert client.get(reverse("compliance:candidacy_create")).status_code == 200
    response = client.post(reverse("compliance:candidacy_create"), _create_data(tree, candidate))
    candidacy = Candidacy.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("compliance:candidacy", args=[candidacy.pk])
    assert candidacy.candidate_person == candidate and candidacy.candidate_name == "Giovanna Esposito"
    page = client.get(reverse("compliance:candidacy", args=[candidacy.pk])).content.decode()
    assert "55.879,71" in page  # 52,000 € + 387,971 × 0.01 €
    assert "Nessun mandatario nominato" in page
    assert AuditEntry.objects.filter(action="compliance.create_candidacy", kind=AuditKind.WRITE).exists()
    listing = client.get(reverse("compliance:candidacies")).content.decode()
    assert "Giovanna Esposito" in listing and "da nominare" in listing


def test_the_typed_spending_cap_replaces_the_legal_one(tree, federation):
    candidate = journey.person("Giovanna", "Esposito", tree.bologna_centro)
    verified_client(federation).post(
        reverse("compliance:candidacy_create"), _create_data(tree, candidate, spending_cap="20000")
    )
    assert Candidacy.objects.get().spending_cap_cents == 20_000_00


def test_a_municipal_candidacy_is_refused_at_the_regional_level(tree):
    official = make_official("organizzazione.er", tree.emilia, [Role.ORGANISATION])
    candidate = journey.person("Giovanna", "Esposito", tree.bologna_centro)
    response = verified_client(official).post(
        reverse("compliance:candidacy_create"), _create_data(tree, candidate, territory=tree.emilia.pk)
    )
    assert response.status_code == 200
    assert "si registrano al livello «Federazione»" in response.content.decode()
    assert not Candidacy.objects.exists()
    assert AuditEntry.objects.filter(action="compliance.create_candidacy", kind=AuditKind.DENIED).exists()


def test_an_unknown_candidate_codice_fiscale_is_refused_with_what_to_do(tree, federation):
    response = verified_client(federation).post(
        reverse("compliance:candidacy_create"),
        _create_data(
            tree,
            journey.person("Giovanna", "Esposito", tree.bologna_centro),
            candidate_codice_fiscale="RSSMRA80A01H501U",
        ),
    )
    assert "registrala prima in Persone" in response.content.decode()
    assert not Candidacy.objects.exists()


def test_election_day_before_it_is_called_is_refused(tree, federation):
    candidate = journey.person("Giovanna", "Esposito", tree.bologna_centro)
    response = verified_client(federation).post(
        reverse("compliance:candidacy_create"), _create_data(tree, candidate, election_day="2026-03-01")
    )
    assert "non può precedere la data di indizione" in response.content.decode()
    assert not Candidacy.objects.exists()


def test_a_treasurer_sees_candidacies_but_cannot_create_one(tree, federation, treasurer):
    journey.candidacy(tree, federation)
    client = verified_client(treasurer)
    assert "Giovanna Esposito" in client.get(reverse("compliance:candidacies")).content.decode()
    assert client.get(reverse("compliance:candidacy_create")).status_code == 403


def test_another_federation_cannot_open_the_candidacy_by_any_url(tree, federation):
    candidacy = journey.candidacy(tree, federation)
    modena = verified_client(make_official("organizzazione.mo", tree.modena, [Role.ORGANISATION, Role.TREASURY]))
    for name in ("candidacy", "report"):
        assert modena.get(reverse(f"compliance:{name}", args=[candidacy.pk])).status_code == 404
    for name in ("mandatario", "expense", "declaration"):
        assert modena.post(reverse(f"compliance:{name}", args=[candidacy.pk]), {}).status_code == 404
    assert "Giovanna" not in modena.get(reverse("compliance:candidacies")).content.decode()


# --- mandatario (F10) ------------------------------------------------------------------------


def test_naming_then_replacing_the_mandatario(tree, federation):
    candidacy = journey.candidacy(tree, federation, with_mandatario=False)
    first = journey.person("Laura", "Neri", tree.bologna_centro, born="03/07/1975")
    second = journey.person("Carlo", "Verdi", tree.bologna_centro, born="04/08/1970", sex="M")
    client = verified_client(federation)
    url = reverse("compliance:mandatario", args=[candidacy.pk])
    assert (
        client.post(
            url, {"codice_fiscale": first.codice_fiscale, "iban": "IT60 X054 2811 1010 0000 0123 456"}
        ).status_code
        == 302
    )
    candidacy.refresh_from_db()
    assert candidacy.mandatario_person == first and candidacy.mandatario_iban == journey.MANDATARIO_IBAN
    assert client.post(url, {"codice_fiscale": second.codice_fiscale, "iban": journey.OTHER_IBAN}).status_code == 302
    candidacy.refresh_from_db()
    assert candidacy.mandatario_name == "Carlo Verdi"
    entry = AuditEntry.objects.filter(action="compliance.name_mandatario").latest("id")
    assert entry.data["replaced"] == "Laura Neri"
    assert "Carlo Verdi" in client.get(reverse("compliance:candidacy", args=[candidacy.pk])).content.decode()


def test_a_bad_iban_is_refused_and_nothing_changes(tree, federation):
    candidacy = journey.candidacy(tree, federation, with_mandatario=False)
    mandatario = journey.person("Laura", "Neri", tree.bologna_centro, born="03/07/1975")
    response = verified_client(federation).post(
        reverse("compliance:mandatario", args=[candidacy.pk]),
        {"codice_fiscale": mandatario.codice_fiscale, "iban": "IT60X0542811101000000123457"},
    )
    assert response.status_code == 200 and "IBAN non valido" in response.content.decode()
    candidacy.refresh_from_db()
    assert candidacy.mandatario_iban == "" and candidacy.mandatario_person is None


def test_one_mandatario_serves_one_candidate_per_election(tree, federation):
    """Rule F10: the mandatario of one candidate cannot be named for another in the same election."""
    first = journey.candidacy(tree, federation)
    other = actions.create_candidacy(
        actor=federation,
        territory=tree.bologna,
        election_kind="municipal",
        candidate=journey.person("Paolo", "Gialli", tree.bologna_centro, sex="M"),
        election=first.election,
        constituency="Comune di Bologna",
    )
    response = verified_client(federation).post(
        reverse("compliance:mandatario", args=[other.pk]),
        {"codice_fiscale": first.mandatario_codice_fiscale, "iban": journey.OTHER_IBAN},
    )
    assert "è già mandatario di Giovanna Esposito" in response.content.decode()
    other.refresh_from_db()
    assert not other.has_mandatario


def test_the_candidate_cannot_be_their_own_mandatario(tree, federation):
    candidacy = journey.candidacy(tree, federation, with_mandatario=False)
    response = verified_client(federation).post(
        reverse("compliance:mandatario", args=[candidacy.pk]),
        {
            "codice_fiscale": candidacy.candidate_person.codice_fiscale,  # type: ignore[union-attr]
            "iban": journey.MANDATARIO_IBAN,
        },
    )
    assert "non può essere il proprio mandatario" in response.content.decode()


# --- the campaign and the F10 select ---------------------------------------------------------


def test_the_candidacy_opens_its_campaign_prefilled_and_linked(tree, federation):
    candidacy = journey.candidacy(tree, federation)
    client = verified_client(federation)
    page = client.get(reverse("compliance:candidacy", args=[candidacy.pk])).content.decode()
    url = f"{reverse('funding:manage_create')}?territory={tree.bologna.pk}&amp;candidacy={candidacy.pk}"
    assert url in page
    form = client.get(url.replace("&amp;", "&")).content.decode()
    assert f'<option value="{candidacy.pk}" selected>' in form
    assert '<option value="candidate" selected>' in form
    assert "Giovanna Esposito per Elezioni comunali di Bologna 2027" in form


def test_a_circolo_secretary_finds_the_federation_candidacy_in_the_f10_select(tree, federation, circolo_secretary):
    """The select was empty for a circolo: the municipal candidacy hangs on the federation above it."""
    candidacy = journey.candidacy(tree, federation)
    form = (
        verified_client(circolo_secretary)
        .get(f"{reverse('funding:manage_create')}?territory={tree.bologna_centro.pk}")
        .content.decode()
    )
    assert f'<option value="{candidacy.pk}">' in form
    modena = make_official("segretario.mo", tree.modena_nord, [Role.ORGANISATION])
    other = verified_client(modena).get(f"{reverse('funding:manage_create')}?territory={tree.modena_nord.pk}")
    assert f'<option value="{candidacy.pk}">' not in other.content.decode()


# --- expenses against the cap (F11) ----------------------------------------------------------


def _propaganda():
    ensure_categories()  # a transactional test may have flushed the rows the migration seeded
    return ExpenseCategory.objects.get(code="propaganda")


def _expense(client, candidacy, amount, key):
    return client.post(
        reverse("compliance:expense", args=[candidacy.pk]),
        {
            "supplier": "Tipografia Rossi",
            "description": "Manifesti 70x100",
            "amount": amount,
            "incurred_on": "2026-06-01",
            "idempotency_key": key,
            "category": _propaganda().pk,
            "receipt": SimpleUploadedFile("fattura.pdf", PDF, content_type="application/pdf"),
        },
    )


def test_an_expense_beyond_the_spending_cap_is_refused_with_a_clear_message(tree, federation, treasurer, check_ledger):
    candidacy = journey.candidacy(tree, federation, spending_cap_cents=10_000_00)
    client = verified_client(treasurer)
    assert _expense(client, candidacy, "9000", "k1").status_code == 302
    assert _expense(client, candidacy, "9000", "k1").status_code == 302  # a replayed form books nothing
    response = _expense(client, candidacy, "1000,01", "k2")
    text = response.content.decode()
    assert response.status_code == 200
    assert "oltre il tetto di spesa di 10.000,00" in text and "restano 1.000,00" in text
    assert list(CandidateExpense.objects.values_list("amount_cents", flat=True)) == [9_000_00]
    denied = AuditEntry.objects.get(action="compliance.book_expense", kind=AuditKind.DENIED)
    assert denied.data["code"] == "spending_cap"
    assert _expense(client, candidacy, "1000", "k3").status_code == 302  # exactly up to the cap is allowed
    page = client.get(reverse("compliance:candidacy", args=[candidacy.pk])).content.decode()
    assert "10.000,00 € / 10.000,00 €" in page.replace("\xa0", " ")


def test_no_expense_before_a_mandatario_is_named(tree, federation):
    candidacy = journey.candidacy(tree, federation, with_mandatario=False)
    with pytest.raises(Exception, match="nomina il mandatario"):
        actions.book_candidate_expense(
            actor=federation,
            candidacy=candidacy,
            description="x",
            supplier="y",
            amount=Money(100),
            incurred_on=dt.date(2026, 6, 1),
            idempotency_key="z",
        )
    assert not CandidateExpense.objects.exists()


# --- joint declarations (F12) and the report --------------------------------------------------


@pytest.fixture
def live_candidate_campaign(tree, federation):
    candidacy = journey.candidacy(tree, federation)
    owner = make_official("tesoriere.centro", tree.bologna_centro, [Role.ORGANISATION, Role.TREASURY])
    approver = make_official("approva.bo", tree.bologna, [Role.ORGANISATION, Role.TREASURY])
    campaign = build_live_campaign(tree, owner, approver, kind=CampaignKind.CANDIDATE, candidacy=candidacy)
    return candidacy, campaign


def test_a_donor_above_the_threshold_blocks_the_report_until_the_declaration_is_uploaded(
    tree, federation, live_candidate_campaign, check_ledger
):
    candidacy, campaign = live_candidate_campaign
    give(campaign, 3_500_00)  # rule F12: above 3,000 € → joint declaration
    give(campaign, 50_00, n=3)  # below: nothing to declare
    client = verified_client(federation)
    page = client.get(reverse("compliance:candidacy", args=[candidacy.pk])).content.decode()
    assert "3.550,00" in page  # collected on the mandatario's account
    assert "Manca la dichiarazione congiunta di Giulia Rossi" in page
    blocked = client.get(reverse("compliance:report", args=[candidacy.pk]), follow=True)
    assert "Il rendiconto non si può ancora produrre" in blocked.content.decode()
    assert not AuditEntry.objects.filter(action="compliance.export_report").exists()

    donor = campaign.donations.get(amount_cents=3_500_00).person
    assert donor is not None
    response = client.post(
        reverse("compliance:declaration", args=[candidacy.pk]),
        {
            "donor": donor.pk,
            "document": SimpleUploadedFile("firmata.pdf", PDF, "application/pdf"),
            "signed_on": "2026-06-09",
            "status": "signed",
        },
    )
    assert response.status_code == 302
    declaration = JointDeclaration.objects.get(candidacy=candidacy, donor=donor)
    assert client.get(reverse("compliance:declaration_document", args=[declaration.pk])).content == PDF

    report = client.get(reverse("compliance:report", args=[candidacy.pk]))
    assert report.status_code == 200 and "attachment" in report["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(report.content.decode("utf-8-sig")), delimiter=";"))
    assert ["Contributi non nominativi (sotto la soglia)", "", "", "3550.00", "", ""] in rows  # F11: ≤ 5,000 €
    assert any("Laura Neri" in cell for row in rows for cell in row)


def test_the_report_lists_declarations_of_itemised_donors(tree, federation, live_candidate_campaign):
    """Rule F11: above 5,000 € a natural person is itemised by name, with the F12 declaration's status."""
    candidacy, campaign = live_candidate_campaign
    donation = give(campaign, 6_000_00)
    assert donation.person is not None
    actions.add_joint_declaration(
        actor=federation,
        candidacy=candidacy,
        donor=donation.person,
        document=SimpleUploadedFile("d.pdf", PDF),
        signed_on=dt.date(2026, 6, 9),
    )
    report = verified_client(federation).get(reverse("compliance:report", args=[candidacy.pk]))
    rows = list(csv.reader(io.StringIO(report.content.decode("utf-8-sig")), delimiter=";"))
    assert [
        "Contributo",
        "Giulia Rossi",
        donation.codice_fiscale,
        "6000.00",
        "",
        "Firmata da chi dona e dal candidato",
    ] in rows


def test_a_declaration_must_be_a_pdf_or_an_image(tree, federation, live_candidate_campaign):
    candidacy, campaign = live_candidate_campaign
    donor = give(campaign, 3_500_00).person
    assert donor is not None
    response = verified_client(federation).post(
        reverse("compliance:declaration", args=[candidacy.pk]),
        {
            "donor": donor.pk,
            "document": SimpleUploadedFile("firmata.exe", b"MZ"),
            "signed_on": "2026-06-09",
            "status": "signed",
        },
    )
    assert "in PDF, JPG o PNG" in response.content.decode()
    assert not JointDeclaration.objects.exists()


def test_a_filed_declaration_needs_its_filing_date(tree, federation, live_candidate_campaign):
    candidacy, campaign = live_candidate_campaign
    donor = give(campaign, 3_500_00).person
    assert donor is not None
    response = verified_client(federation).post(
        reverse("compliance:declaration", args=[candidacy.pk]),
        {
            "donor": donor.pk,
            "document": SimpleUploadedFile("firmata.pdf", PDF),
            "signed_on": "2026-06-09",
            "status": "filed",
        },
    )
    assert "Indica la data del deposito" in response.content.decode()
    assert not JointDeclaration.objects.exists()


def test_a_declaration_for_someone_who_did_not_give_is_refused(tree, federation, live_candidate_campaign):
    candidacy, _campaign = live_candidate_campaign
    stranger = journey.person("Mario", "Bianchi", tree.bologna_centro, sex="M")
    with pytest.raises(Exception, match="non risulta tra chi ha donato"):
        actions.add_joint_declaration(
            actor=federation,
            candidacy=candidacy,
            donor=stranger,
            document=SimpleUploadedFile("d.pdf", PDF),
            signed_on=dt.date(2026, 6, 9),
        )
    assert not JointDeclaration.objects.exists()


def test_the_report_needs_a_mandatario_and_the_election_day(tree, federation):
    candidacy = journey.candidacy(tree, federation, with_mandatario=False, election_day=None)
    page = verified_client(federation).get(reverse("compliance:candidacy", args=[candidacy.pk])).content.decode()
    assert "Manca il mandatario elettorale" in page and "Manca il giorno delle elezioni" in page
    assert verified_client(federation).get(reverse("compliance:report", args=[candidacy.pk])).status_code == 302


def test_a_renamed_file_is_not_a_signed_pdf(tree, federation, live_candidate_campaign):
    candidacy, campaign = live_candidate_campaign
    donor = give(campaign, 3_500_00).person
    assert donor is not None
    response = verified_client(federation).post(
        reverse("compliance:declaration", args=[candidacy.pk]),
        {
            "donor": donor.pk,
            "document": SimpleUploadedFile("firmata.pdf", b"MZ\x90\x00 not a pdf"),
            "signed_on": "2026-06-09",
            "status": "signed",
        },
    )
    assert "in PDF, JPG o PNG" in response.content.decode()
    assert not JointDeclaration.objects.exists()
    assert AuditEntry.objects.filter(action="compliance.add_joint_declaration", kind=AuditKind.DENIED).exists()


@pytest.mark.django_db(transaction=True)
def test_the_report_may_read_its_figures_on_the_replica_and_says_how_old(
    tree, federation, live_candidate_campaign, mirror, monkeypatch
):
    """Issue 14: the rendiconto is a report, read on the replica within REPLICA_MAX_LAG["reports"]
    (120 s); its preamble then says how old its figures are."""
    candidacy, campaign = live_candidate_campaign
    give(campaign, 100_00)
    monkeypatch.setattr(replica, "replica_lag_seconds", lambda: 90.0)
    with CaptureQueriesContext(mirror) as on_replica:
        report = verified_client(federation).get(reverse("compliance:report", args=[candidacy.pk]))
    assert report.status_code == 200 and "attachment" in report["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(report.content.decode("utf-8-sig")), delimiter=";"))
    assert ["Dati aggiornati a 90 secondi fa."] in rows
    assert "funding_donation" in " ".join(q["sql"] for q in on_replica.captured_queries)
    assert AuditEntry.objects.filter(action="compliance.export_report").count() == 1  # written on the primary
