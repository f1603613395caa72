"""The privacy officer's records (issue 12): the record of processing activities generated from
the configuration (GDPR art. 30), as a page and a PDF; the data breach register (art. 33(5)) with
its 72-hour deadline, append-only versions and CSV export. Only the national privacy officer and
administrator (as the board of requests, rule G5)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zlib
from typing import Any

import pytest
from django.db import IntegrityError, InternalError, transaction
from django.urls import reverse
from django.utils import timezone

from piazza.core.models import AuditEntry, AuditKind
from piazza.funding import personal_data as funding_data
from piazza.funding.models import Donation
from piazza.privacy import breaches
from piazza.privacy.models import BreachVersion, DataBreach
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = [pytest.mark.django_db, pytest.mark.clock("2026-06-10 10:00")]


@pytest.fixture
def officer(tree: Any) -> Any:
    return make_official("dpo.records", tree.national, [Role.PRIVACY_OFFICER])


def _pdf_text(content: bytes) -> str:
    parts = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", content, re.S):
        try:
            parts.append(zlib.decompress(stream).decode("latin-1"))
        except zlib.error:
            continue
    return "".join(parts)


def test_the_record_of_processing_is_generated_from_the_configuration(officer, settings):
    settings.PRIVACY_CONTROLLER_NAME = "Partito di Prova"
    settings.PRIVACY_DPO_EMAIL = "dpo@prova.example"
    settings.PRIVACY_RETENTION = {**settings.PRIVACY_RETENTION, "inactive_contacts_years": 4}
    office = verified_client(officer)
    page = office.get(reverse("privacy:processing")).content.decode()
    for text in (
        "Partito di Prova",
        "dpo@prova.example",
        "Raccolta fondi e donazioni",  # funding declares it
        "Tesseramento e Albo dei sostenitori",  # membership declares it
        "Finalità con consenso: Newsletter",  # people.Purpose
        "cancellati dopo 4 anni senza interazioni",  # settings.PRIVACY_RETENTION
        "art. 2220 c.c.",  # settings.PRIVACY_LEGAL_HOLDS
        "Circuito di pagamento",  # the providers configured
        "Autenticazione a due fattori",
    ):
        assert text in page, text
    response = office.get(reverse("privacy:processing_pdf"))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    text = _pdf_text(response.content)
    for expected in ("Registro delle attivit", "Partito di Prova", "dpo@prova.example", "Raccolta fondi", "4 anni"):
        assert expected in text, expected
    assert AuditEntry.objects.filter(action="privacy.processing_pdf", kind=AuditKind.EXPORT, actor=officer).exists()


def test_a_newly_declared_data_category_shows_up_in_the_record(officer, monkeypatch):
    """Declared in an app's personal_data.py → in the art. 30 page and PDF, nothing else to edit."""
    office = verified_client(officer)
    label = str(Donation._meta.get_field("manage_token").verbose_name)
    assert label not in _pdf_text(office.get(reverse("privacy:processing_pdf")).content)
    declared = dict(funding_data.PERSONAL_FIELDS)
    declared[Donation] = [*declared[Donation], "manage_token"]
    monkeypatch.setattr(funding_data, "PERSONAL_FIELDS", declared)
    assert label in office.get(reverse("privacy:processing")).content.decode()
    assert label in _pdf_text(office.get(reverse("privacy:processing_pdf")).content)


def _facts(**over: Any) -> dict[str, str]:
    values = {
        "discovered_at": "2026-06-09T09:00",
        "nature": "Un portatile con un elenco di iscritti è stato rubato",
        "data_categories": "nomi, email, iscrizioni",
        "people_count": "120",
        "records_count": "120",
        "consequences": "Possibile contatto indesiderato",
        "measures": "Disco cifrato; password cambiate",
        "notification_required": "on",
    }
    values.update(over)
    return {k: v for k, v in values.items() if v is not None}


def test_the_breach_board_counts_72_hours_from_discovery(officer, clock):
    office = verified_client(officer)
    response = office.post(reverse("privacy:breaches"), _facts())
    assert response.status_code == 302
    breach = DataBreach.objects.get()
    version = breach.versions.get()
    assert breach.reference == "V-2026-001"
    assert version.deadline == timezone.make_aware(dt.datetime(2026, 6, 12, 9, 0))  # 72 hours after discovery
    board = office.get(reverse("privacy:breaches")).content.decode()
    assert "Da notificare: restano 47 ore" in board  # 10 June 10:00 → 12 June 9:00
    clock.move_to("2026-06-12 09:30")
    board = verified_client(officer).get(reverse("privacy:breaches")).content.decode()
    assert "Non notificata: termine scaduto" in board
    assert AuditEntry.objects.filter(action="privacy.record_breach", object_id=str(breach.pk)).exists()


def test_a_notification_in_time_and_a_late_one_are_told_apart(officer, clock):
    office = verified_client(officer)
    office.post(reverse("privacy:breaches"), _facts())
    breach = DataBreach.objects.get()
    url = reverse("privacy:breach_detail", args=[breach.pk])
    clock.move_to("2026-06-13 12:00")
    office = verified_client(officer)  # a new sign-in three days later
    late = office.post(url, _facts(notified_at="2026-06-13T11:00"))
    assert late.status_code == 400 and "scrivi i motivi del ritardo" in late.content.decode()
    assert breach.versions.count() == 1  # nothing written
    explained = office.post(url, _facts(notified_at="2026-06-13T11:00", delay_reason="Indagine forense in corso"))
    assert explained.status_code == 302
    assert breach.versions.order_by("-number")[0].deadline_state == "late"
    in_time = office.post(url, _facts(notified_at="2026-06-11T18:00"))  # a correction: it was notified in time
    assert in_time.status_code == 302
    versions = list(breach.versions.order_by("number"))
    assert [v.number for v in versions] == [1, 2, 3]  # every edit a new version, the earlier ones kept
    assert [v.deadline_state for v in versions] == ["overdue", "late", "in_time"]
    assert AuditEntry.objects.filter(action="privacy.update_breach", object_id=str(breach.pk)).count() == 2
    detail = office.get(url).content.decode()
    assert "Notificata entro 72 ore" in detail and "Notificata oltre 72 ore" in detail


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"discovered_at": "2026-06-11T09:00"}, "non può essere nel futuro"),
        ({"notified_at": "2026-06-08T09:00"}, "non può precedere la scoperta"),
        ({"notification_required": None}, "Spiega perché la violazione non va notificata"),
        ({"people_informed": "on"}, "Indica quando sono state informate le persone"),
        ({"discovered_at": ""}, "Indica quando la violazione è stata scoperta"),
        ({"people_count": "-3"}, "maggiore o uguale a 0"),
    ],
)
def test_bad_breach_input_is_refused_with_a_message_and_writes_nothing(officer, over, message):
    response = verified_client(officer).post(reverse("privacy:breaches"), _facts(**over))
    assert response.status_code == 400 and message in response.content.decode()
    assert not DataBreach.objects.exists() and not BreachVersion.objects.exists()


def test_breach_versions_are_append_only_and_the_register_exports_every_version(officer):
    version = breaches.record_breach(
        actor=officer,
        facts=breaches.BreachFacts(
            discovered_at=timezone.now() - dt.timedelta(hours=2),
            nature="Email inviata a destinatari sbagliati",
            data_categories="email",
            people_count=40,
            records_count=40,
            consequences="Indirizzi visibili ad altri",
            measures="Richiamo del messaggio",
        ),
    )
    with pytest.raises((IntegrityError, InternalError)), transaction.atomic():  # the database trigger refuses
        BreachVersion.objects.filter(pk=version.pk).update(people_count=1)
    response = verified_client(officer).get(reverse("privacy:breach_export"))
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:2] == ["Riferimento", "Versione"] and rows[1][0] == "V-2026-001"
    assert "Da notificare entro il termine" in rows[1]
    assert AuditEntry.objects.filter(action="privacy.export_breaches", kind=AuditKind.EXPORT).exists()


def test_only_the_national_privacy_officer_and_administrator_reach_the_records(tree, circolo_secretary):
    breach = breaches.record_breach(
        actor=None,
        facts=breaches.BreachFacts(
            discovered_at=timezone.now(),
            nature="x",
            data_categories="y",
            people_count=1,
            records_count=1,
            consequences="z",
            measures="w",
        ),
    ).breach
    urls = [
        reverse("privacy:processing"),
        reverse("privacy:processing_pdf"),
        reverse("privacy:breaches"),
        reverse("privacy:breach_detail", args=[breach.pk]),
        reverse("privacy:breach_export"),
    ]
    secretary = verified_client(circolo_secretary)
    regional = verified_client(make_official("privacy.lombardia", tree.lombardia, [Role.PRIVACY_OFFICER]))
    admin = verified_client(make_official("admin.records", tree.national, [Role.ADMINISTRATOR]))
    for url in urls:
        assert secretary.get(url).status_code == 403, url
        assert regional.get(url).status_code == 403, url
        assert admin.get(url).status_code == 200, url
    # Reachable from the privacy officer's board.
    board = admin.get(reverse("privacy:board")).content.decode()
    for name in ("privacy:notices_admin", "privacy:processing", "privacy:breaches"):
        assert f'href="{reverse(name)}"' in board
