"""The donor register (rules F1, F2, F5, F14, F15): who enters, by when, publication versions,
services in kind, election periods, the board's scope and the exports for the Chamber."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from piazza.compliance.contributions import contribution_lines
from piazza.compliance.models import (
    ElectionPeriodKind,
    FinanceRuleSet,
    PublishedRow,
    RegisterEntry,
    RegisterItem,
    RegisterPublication,
)
from piazza.compliance.register import actions as register
from piazza.compliance.register.compute import Period, deadline, end_of_month_after
from piazza.compliance.register.pdf import make_self_signed
from piazza.compliance.register.queries import DUE, LATE, MET, board_row, entity_board
from piazza.compliance.rules import FinanceRules
from piazza.core.models import AuditEntry, AuditKind
from piazza.funding.tests.conftest import build_live_campaign
from piazza.funding.tests.flows import VALID_CF, give, payment_of, submit
from piazza.membership.tests.conftest import YEAR, paid, schedule  # noqa: F401 (the fixture)
from piazza.payments.actions.refunds import refund_payment
from piazza.people.models import Person
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("check_ledger")]

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
TODAY = dt.date(2026, 6, 10)  # the suite's frozen clock


@pytest.fixture
def campaign(tree):
    owner = make_official("tesoriere.centro", tree.bologna_centro, [Role.ORGANISATION, Role.TREASURY])
    approver = make_official("federazione.bo", tree.bologna, [Role.ORGANISATION, Role.TREASURY])
    return build_live_campaign(tree, owner, approver, goal_cents=500_000)


@pytest.fixture
def national_treasurer(tree):
    return make_official("tesoreria.nazionale", tree.national, [Role.TREASURY])


@pytest.fixture
def private_media(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = str(tmp_path / "private")


def _giulia_member(tree: Any) -> Any:
    """Giulia Rossi pays her fee (15 March): the same codice fiscale as the donation flows' donor."""
    membership = paid(tree, first="Giulia", last="Rossi", sex="F", birth_date=dt.date(1980, 1, 1))
    person = membership.person
    assert person.codice_fiscale_canonical == VALID_CF
    return membership


def _rules(**over: Any) -> FinanceRuleSet:
    return FinanceRuleSet.objects.create(valid_from=dt.date(YEAR, 1, 1), **over)


# --- Who enters (F1, F14) ------------------------------------------------------------------------


def test_f1_threshold_crossed_by_the_sum_of_several_gifts_and_a_fee(tree, campaign, schedule, national_treasurer):  # noqa: F811
    membership = _giulia_member(tree)
    first = give(campaign, 25_000)
    assert register.refresh_register(actor=national_treasurer, year=YEAR).entries == 0  # 20 € + 250 €: below
    second = give(campaign, 24_000)

    register.refresh_register(actor=national_treasurer, year=YEAR)
    entry = RegisterEntry.objects.get()
    lines = [line for line in contribution_lines(YEAR) if line.person_id == membership.person_id]
    assert entry.person_id == membership.person_id and entry.entity == tree.national  # F14 default: the party
    assert entry.total_cents == sum(line.amount_cents for line in lines) > 500_00
    assert entry.donor_name == "Giulia Rossi"
    items = list(entry.items.order_by("received_on", "id"))
    assert [(i.source, i.source_id) for i in items] == [
        ("membership.membership", membership.pk),  # one item, though the fee is split among levels (M8)
        ("funding.donation", first.pk),
        ("funding.donation", second.pk),
    ]
    assert items[0].amount_cents == membership.fee_cents and items[0].kind == "fee"
    assert items[1].method == "card"
    # F1: all are due by the end of the month after the gift that crossed the threshold (10 June).
    assert entry.crossed_on == TODAY
    assert {i.due_on for i in items} == {dt.date(2026, 7, 31)}

    # Idempotent: a second run changes nothing.
    before = list(RegisterItem.objects.values_list("pk", "due_on", "amount_cents"))
    register.refresh_register(actor=None, year=YEAR)
    assert list(RegisterItem.objects.values_list("pk", "due_on", "amount_cents")) == before


def test_f14_fees_do_not_count_when_fees_count_is_off(tree, campaign, schedule, national_treasurer):  # noqa: F811
    _rules(fees_count=False)
    _giulia_member(tree)
    give(campaign, 25_000)
    give(campaign, 24_000)
    register.refresh_register(actor=national_treasurer, year=YEAR)
    assert not RegisterEntry.objects.exists()  # 490 € of gifts: the 20 € fee does not count

    give(campaign, 2_000)
    register.refresh_register(actor=national_treasurer, year=YEAR)
    entry = RegisterEntry.objects.get()
    assert {i.kind for i in entry.items.all()} == {"donation"}  # the fee is not an item either


def test_f14_per_entity_scope_keeps_a_register_per_receiving_node(tree, campaign, schedule):  # noqa: F811
    _rules(cap_scope="entity")
    _giulia_member(tree)  # the fee goes to national, region and federation: none to the circolo
    give(campaign, 25_000)
    give(campaign, 26_000)
    circolo_treasurer = make_official("tesoriere.c", tree.bologna_centro, [Role.TREASURY])
    register.refresh_register(actor=circolo_treasurer, year=YEAR, entity=tree.bologna_centro)
    entry = RegisterEntry.objects.get()
    assert entry.entity == tree.bologna_centro
    assert entry.total_cents == sum(i.amount_cents for i in entry.items.all()) >= 51_000
    assert {i.kind for i in entry.items.all()} == {"donation"}
    register.refresh_register(actor=None, year=YEAR)
    assert list(RegisterEntry.objects.values_list("entity_id", flat=True)) == [tree.bologna_centro.pk]

    # With the default "party" scope a circolo keeps no register of its own.
    FinanceRuleSet.objects.all().delete()
    FinanceRuleSet.objects.create(valid_from=dt.date(YEAR, 1, 2), cap_scope="party")
    with pytest.raises(ValidationError, match="tutto il partito"):
        register.refresh_register(actor=circolo_treasurer, year=YEAR, entity=tree.bologna_centro)


# --- Deadlines (F1, F15) -------------------------------------------------------------------------


def test_f1_deadline_is_the_end_of_the_month_after_receipt_or_15_days_in_an_election_period():
    rules = FinanceRules()
    assert end_of_month_after(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert end_of_month_after(dt.date(2026, 12, 5), 1) == dt.date(2027, 1, 31)
    assert deadline(dt.date(2026, 6, 10), "/1/", rules, []) == (dt.date(2026, 7, 31), False)
    region = Period("/1/2/", dt.date(2026, 3, 20), dt.date(2026, 9, 20))
    assert deadline(dt.date(2026, 6, 10), "/1/2/3/", rules, [region]) == (dt.date(2026, 6, 25), True)  # below
    assert deadline(dt.date(2026, 6, 10), "/1/", rules, [region]) == (dt.date(2026, 6, 25), True)  # above
    assert deadline(dt.date(2026, 6, 10), "/1/9/", rules, [region]) == (dt.date(2026, 7, 31), False)  # elsewhere
    assert deadline(dt.date(2026, 10, 1), "/1/2/", rules, [region]) == (dt.date(2026, 11, 30), False)  # after
    shorter = FinanceRules(election_deadline_days=7, register_deadline_months=2)
    assert deadline(dt.date(2026, 6, 10), "/1/2/", shorter, [region]) == (dt.date(2026, 6, 17), True)
    assert deadline(dt.date(2026, 6, 10), "/1/", shorter, []) == (dt.date(2026, 8, 31), False)


def test_f1_election_period_declared_by_an_official_shortens_the_deadline(tree, campaign, national_treasurer, clock):
    organiser = make_official("organizzazione.er", tree.emilia, [Role.ORGANISATION])
    period = register.declare_election_period(
        actor=organiser,
        territory=tree.emilia,
        kind=ElectionPeriodKind.ELECTION,
        election_day=dt.date(2026, 9, 20),
        description="Elezioni regionali 2026",
    )
    assert (period.starts_on, period.ends_on) == (dt.date(2026, 3, 20), dt.date(2026, 9, 20))  # six months
    give(campaign, 60_000)
    register.refresh_register(actor=national_treasurer, year=YEAR)
    item = RegisterItem.objects.get()
    assert (item.due_on, item.in_election_period) == (dt.date(2026, 6, 25), True)

    clock.move_to("2026-06-30 09:00")
    row = board_row(RegisterEntry.objects.get(), timezone.localdate())
    assert (row.status, row.days) == (LATE, 5)  # F15: late by 5 days, no sanction anywhere

    with pytest.raises(ValidationError, match="scioglimento"):
        register.declare_election_period(
            actor=organiser,
            territory=tree.emilia,
            kind=ElectionPeriodKind.DISSOLUTION,
            election_day=dt.date(2026, 9, 20),
            description="Scioglimento",
        )
    outsider = make_official("organizzazione.lo", tree.lombardia, [Role.ORGANISATION])
    with pytest.raises(PermissionDenied):
        register.declare_election_period(
            actor=outsider,
            territory=tree.emilia,
            kind=ElectionPeriodKind.ELECTION,
            election_day=dt.date(2026, 9, 20),
            description="Elezioni",
        )


def test_f15_board_shows_due_late_by_n_days_and_met(tree, campaign, national_treasurer, clock):
    give(campaign, 60_000)
    register.refresh_register(actor=national_treasurer, year=YEAR)
    row = board_row(RegisterEntry.objects.get(), timezone.localdate())
    assert (row.status, row.due_on, row.days) == (DUE, dt.date(2026, 7, 31), 51)

    clock.move_to("2026-08-03 10:00")
    board = entity_board(tree.national, YEAR)
    assert [(r.status, r.days) for r in board.rows] == [(LATE, 3)]
    assert board.counts["late"] == 1 and board.changed_since_publication

    register.publish_register(actor=national_treasurer, entity=tree.national, year=YEAR)
    board = entity_board(tree.national, YEAR)
    assert [(r.status, r.published_on, r.days) for r in board.rows] == [(MET, dt.date(2026, 8, 3), 3)]
    assert not board.changed_since_publication

    response = verified_client(national_treasurer).get(reverse("compliance:register_board") + f"?anno={YEAR}")
    text = response.content.decode()
    assert "pubblicato il 03/08/2026" in text and "3 giorni dopo la scadenza" in text
    assert "sanzion" not in text.lower()  # F15: deadlines and days, never a sanction


# --- Services in kind (F1; never traceable, F8) --------------------------------------------------


def _in_kind(treasurer: Any, person: Any, territory: Any, cents: int, **over: Any) -> Any:
    fields: dict[str, Any] = {
        "actor": treasurer,
        "person": person,
        "territory": territory,
        "description": "Stampa di volantini",
        "value_cents": cents,
        "received_on": dt.date(2026, 5, 20),
        "evidence": SimpleUploadedFile("fattura.pdf", PDF, content_type="application/pdf"),
        "publication_accepted": True,
    }
    fields.update(over)
    return register.record_in_kind(**fields)


def test_f1_services_in_kind_count_and_are_never_traceable(tree, schedule, private_media, national_treasurer):  # noqa: F811
    member = paid(tree)
    treasurer = make_official("tesoriera.bo", tree.bologna, [Role.TREASURY])
    contribution = _in_kind(treasurer, member.person, tree.bologna, 60_000)
    lines = [line for line in contribution_lines(YEAR) if line.source == "compliance.inkindcontribution"]
    assert [(line.amount_cents, line.method, line.traceable) for line in lines] == [(60_000, "in_kind", False)]

    register.refresh_register(actor=national_treasurer, year=YEAR)
    entry = RegisterEntry.objects.get()
    assert entry.person_id == member.person_id
    assert {(i.source, i.method) for i in entry.items.all()} >= {("compliance.inkindcontribution", "in_kind")}

    # The evidence is private: a treasurer in scope downloads it (audited), another federation gets 404.
    url = reverse("compliance:register_in_kind_evidence", args=[contribution.pk])
    response = verified_client(treasurer).get(url)
    assert response.status_code == 200 and response.content == PDF
    assert AuditEntry.objects.filter(action="compliance.view_in_kind_evidence", kind=AuditKind.VIEW).exists()
    modena = make_official("tesoriere.mo", tree.modena, [Role.TREASURY])
    assert verified_client(modena).get(url).status_code == 404
    with pytest.raises(ValueError, match="no public URL"):
        _ = contribution.evidence.url


def test_in_kind_bad_input_is_refused_with_nothing_written(tree, schedule, private_media):  # noqa: F811
    member = paid(tree)
    treasurer = make_official("tesoriera.bo", tree.bologna, [Role.TREASURY])
    cases: list[tuple[dict[str, Any], str]] = [
        ({"value_cents": 0}, "maggiore di zero"),
        ({"received_on": dt.date(2026, 6, 11)}, "futuro"),
        ({"description": "  "}, "Descrivi"),
        ({"evidence": SimpleUploadedFile("f.pdf", b"not a pdf")}, "PDF, JPG o PNG"),
        ({"evidence": None}, "PDF, JPG o PNG"),
        ({"publication_accepted": False}, "non si oppone"),  # F2: 600 € with an objection
        ({"value_cents": 100_000_01}, "tetto annuo"),  # F6: in kind counts toward the cap
    ]
    for over, message in cases:
        with pytest.raises(ValidationError, match=message):
            _in_kind(treasurer, member.person, tree.bologna, 60_000, **over)
    modena = make_official("tesoriere.mo", tree.modena, [Role.TREASURY])
    with pytest.raises(PermissionDenied):
        _in_kind(modena, member.person, tree.bologna, 60_000)
    assert not member.person.in_kind_contributions.exists()
    # Below the threshold an objection does not matter.
    _in_kind(treasurer, member.person, tree.bologna, 10_000, publication_accepted=False)


def test_in_kind_form_records_and_lists(tree, schedule, private_media):  # noqa: F811
    member = paid(tree)
    treasurer = make_official("tesoriera.bo", tree.bologna, [Role.TREASURY])
    client = verified_client(treasurer)
    url = reverse("compliance:register_in_kind")
    data = {
        "territory": tree.bologna.pk,
        "codice_fiscale": member.person.codice_fiscale,
        "description": "Service audio",
        "value": "650",
        "received_on": "2026-06-01",
        "publication_accepted": "on",
    }
    bad = client.post(url, {**data, "codice_fiscale": "RSSMRA80A01H501U", "evidence": SimpleUploadedFile("p.pdf", PDF)})
    assert "Nessuna persona con questo codice fiscale" in bad.content.decode()
    response = client.post(url, {**data, "evidence": SimpleUploadedFile("p.pdf", PDF)})
    assert response.status_code == 302
    listing = client.get(url).content.decode()
    assert "Service audio" in listing and "650,00" in listing


# --- Publication (F1, F2) -----------------------------------------------------------------------


def test_f1_publication_versions_are_immutable_and_a_correction_is_a_new_version(
    tree, campaign, national_treasurer, client
):
    gift = give(campaign, 60_000)
    first = register.publish_register(actor=national_treasurer, entity=tree.national, year=YEAR)
    assert first.version == 1 and first.rows.get().donor_name == "Giulia Rossi"
    assert RegisterItem.objects.get().published_on == TODAY  # the deadline is met today

    public = reverse("register:public", args=[tree.national.pk, YEAR])
    page = client.get(public).content.decode()
    assert "Giulia Rossi" in page and "600,00" in page and "Ultimo aggiornamento" in page
    assert VALID_CF not in page  # no codice fiscale on the public page

    with pytest.raises(ValidationError, match="non è cambiato"):
        register.publish_register(actor=national_treasurer, entity=tree.national, year=YEAR)
    with pytest.raises(ValueError, match="never edited"):
        first.save()
    with pytest.raises(ValueError, match="never edited"):
        PublishedRow.objects.get().save()

    refund_payment(actor=None, payment=payment_of(gift), reason="richiesta")
    second = register.publish_register(
        actor=national_treasurer, entity=tree.national, year=YEAR, note="Donazione rimborsata"
    )
    assert second.version == 2 and not second.rows.exists()
    page = client.get(public).content.decode()
    assert "Giulia Rossi" not in page and "Versione 1" in page
    old = client.get(reverse("register:public_version", args=[tree.national.pk, YEAR, 1])).content.decode()
    assert "Giulia Rossi" in old and "non la più recente" in old
    assert client.get(reverse("register:public", args=[tree.national.pk, YEAR - 1])).status_code == 404
    index = client.get(reverse("register:index")).content.decode()
    assert public in index


def test_f2_a_donor_who_objected_is_never_published(tree, campaign, national_treasurer, client):
    give(campaign, 40_000, publication="object")  # below the threshold: the objection does not matter yet
    with pytest.raises(ValidationError):
        submit(campaign, 20_000, publication="object")  # F2: 600 € with an objection is refused
    register.refresh_register(actor=national_treasurer, year=YEAR)
    assert not RegisterEntry.objects.exists()
    register.publish_register(actor=national_treasurer, entity=tree.national, year=YEAR)
    page = client.get(reverse("register:public", args=[tree.national.pk, YEAR])).content.decode()
    assert "Giulia Rossi" not in page and "Nessun contributo oltre la soglia" in page


def test_publish_needs_the_entitys_treasurer(tree, campaign):
    give(campaign, 60_000)
    admin = make_official("amministrazione", tree.national, [Role.ADMINISTRATOR])
    federation = make_official("tesoriera.bo", tree.bologna, [Role.TREASURY])
    for actor in (admin, federation):
        with pytest.raises(PermissionDenied):
            register.publish_register(actor=actor, entity=tree.national, year=YEAR)
    assert not RegisterPublication.objects.exists()


def test_erasure_keeps_the_published_name_under_the_register_hold(tree, campaign, national_treasurer):
    from piazza.privacy.erasure import erase_person
    from piazza.privacy.models import LegalHold

    give(campaign, 60_000)
    register.publish_register(actor=national_treasurer, entity=tree.national, year=YEAR)
    person = Person.objects.get(codice_fiscale_canonical=VALID_CF)
    erase_person(actor=None, person=person, reason="richiesta dell'interessata")
    assert PublishedRow.objects.get().donor_name == "Giulia Rossi"
    assert RegisterEntry.objects.get().donor_name == "Giulia Rossi"
    register.refresh_register(actor=None, year=YEAR)  # the refresh does not overwrite it with the pseudonym
    assert RegisterEntry.objects.get().donor_name == "Giulia Rossi"
    assert LegalHold.objects.filter(kind="donor_register", model_label="compliance.publishedrow").exists()


# --- The board's scope and the exports (F5) -----------------------------------------------------


def test_scope_a_circolo_treasurer_cannot_see_another_federations_register(tree, campaign):
    _rules(cap_scope="entity")
    give(campaign, 60_000)  # to Bologna Centro
    register.refresh_register(actor=None, year=YEAR)
    own = verified_client(make_official("tesoriere.c", tree.bologna_centro, [Role.TREASURY]))
    other = verified_client(make_official("tesoriere.mn", tree.modena_nord, [Role.TREASURY]))
    url = reverse("compliance:register_entity", args=[tree.bologna_centro.pk, YEAR])
    assert own.get(url).status_code == 200
    assert other.get(url).status_code == 404
    assert other.post(url, {"do": "publish"}).status_code == 404
    assert "Giulia Rossi" not in other.get(reverse("compliance:register_board")).content.decode()
    assert "Giulia Rossi" in own.get(reverse("compliance:register_board")).content.decode()
    assert AuditEntry.objects.filter(action="compliance.view_register_board", kind=AuditKind.VIEW).exists()


def test_f5_csv_export_of_a_version_is_documented_and_audited(tree, campaign, national_treasurer):
    give(campaign, 60_000)
    publication = register.publish_register(actor=national_treasurer, entity=tree.national, year=YEAR)
    response = verified_client(national_treasurer).get(reverse("compliance:register_csv", args=[publication.pk]))
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines[0] == ";".join(
        [
            "anno",
            "ente",
            "versione",
            "pubblicato_il",
            "donatore",
            "totale_anno_euro",
            "data_contributo",
            "importo_euro",
            "canale",
            "tipo",
            "partita_iva_ente",
            "delibera_del",
        ]
    )
    assert lines[1].split(";")[4:8] == ["Giulia Rossi", "600,00", "10/06/2026", "600,00"]
    assert AuditEntry.objects.filter(action="compliance.export_register", kind=AuditKind.EXPORT).exists()
    outsider = make_official("tesoriera.bo", tree.bologna, [Role.TREASURY])
    assert verified_client(outsider).get(reverse("compliance:register_csv", args=[publication.pk])).status_code == 404


def test_f5_signed_pdf_verifies_with_the_configured_certificate(tree, campaign, national_treasurer, settings, tmp_path):
    give(campaign, 60_000)
    publication = register.publish_register(actor=national_treasurer, entity=tree.national, year=YEAR)
    client = verified_client(national_treasurer)
    url = reverse("compliance:register_pdf", args=[publication.pk])

    unsigned = client.get(url)
    assert unsigned.status_code == 200 and unsigned.content.startswith(b"%PDF")
    assert PdfFileReader(io.BytesIO(unsigned.content)).embedded_signatures == []
    assert b"NON firmato" in _page_text(unsigned.content)

    credentials = make_self_signed(tmp_path / "cert", "Tesoreria di prova")
    settings.REGISTER_SIGNING_CERT = str(credentials.cert)
    settings.REGISTER_SIGNING_KEY = str(credentials.key)
    signed = client.get(url)
    reader = PdfFileReader(io.BytesIO(signed.content))
    [signature] = reader.embedded_signatures
    root = load_cert_from_pemder(str(credentials.cert))
    status = validate_pdf_signature(signature, ValidationContext(trust_roots=[root], allow_fetching=False))
    assert status.intact and status.valid and status.coverage is not None and status.coverage.name == "ENTIRE_FILE"
    assert b"firmato digitalmente" in _page_text(signed.content)
    entries = AuditEntry.objects.filter(action="compliance.export_register_pdf", kind=AuditKind.EXPORT)
    assert [e.data["signed"] for e in entries.order_by("id")] == [False, True]


def _page_text(content: bytes) -> bytes:
    reader = PdfFileReader(io.BytesIO(content))
    page = reader.root["/Pages"]["/Kids"][0]
    contents = page["/Contents"]
    return b"".join(c.data for c in contents) if isinstance(contents, list) else contents.data


def test_entity_page_publishes_and_refreshes_through_the_form(tree, campaign, national_treasurer):
    give(campaign, 60_000)
    client = verified_client(national_treasurer)
    url = reverse("compliance:register_entity", args=[tree.national.pk, YEAR])
    assert client.post(url, {"do": "refresh"}).status_code == 302
    assert "Da pubblicare" in client.get(url).content.decode()
    assert client.post(url, {"do": "publish", "note": ""}).status_code == 302
    page = client.get(url).content.decode()
    assert "Versione 1" in page and "Pubblicato" in page
    again = client.post(url, {"do": "publish", "note": ""})
    assert again.status_code == 200 and "non è cambiato" in again.content.decode()
    assert client.get(reverse("compliance:register_entity", args=[tree.bologna.pk, YEAR])).status_code == 404
    assert client.get(reverse("compliance:register_entity", args=[tree.national.pk, YEAR + 1])).status_code == 404


def test_election_period_form_declares_and_explains_bad_input(tree):
    organiser = make_official("organizzazione.er", tree.emilia, [Role.ORGANISATION])
    client = verified_client(organiser)
    url = reverse("compliance:register_periods")
    data = {
        "territory": tree.emilia.pk,
        "kind": ElectionPeriodKind.DISSOLUTION,
        "description": "Scioglimento anticipato",
        "election_day": "2026-09-20",
    }
    missing = client.post(url, data)
    assert missing.status_code == 200 and "Indica la data dello scioglimento" in missing.content.decode()
    later = client.post(url, {**data, "dissolved_on": "2026-10-01"})
    assert "deve precedere il giorno delle elezioni" in later.content.decode()
    outside = client.post(url, {**data, "territory": tree.lombardia.pk, "dissolved_on": "2026-07-01"})
    assert outside.status_code == 200 and "Scegli un territorio del tuo ambito" in outside.content.decode()
    assert client.post(url, {**data, "dissolved_on": "2026-07-01"}).status_code == 302
    page = client.get(url).content.decode()
    assert "Scioglimento anticipato" in page and "01/07/2026" in page and "20/09/2026" in page
    assert reverse("compliance:register_board") in page
