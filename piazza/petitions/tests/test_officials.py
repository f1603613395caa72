"""The officials' side: creating petitions and forms within scope, the embed code, delivery of the
signatures to the target as CSV and PDF (within scope, audited: rule G4), and the embed's CSP."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse

from piazza.core.models import AuditEntry, AuditKind
from piazza.petitions import actions
from piazza.petitions.models import Petition
from piazza.petitions.tests.flows import sign
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = pytest.mark.django_db


def test_an_official_creates_a_petition_from_the_navigation(comms, tree):
    client = verified_client(comms)
    dashboard = client.get(reverse("web:dashboard")).content.decode()
    assert reverse("petitions:manage_list") in dashboard
    listing = client.get(reverse("petitions:manage_list")).content.decode()
    assert reverse("petitions:manage_create") in listing
    response = client.post(
        reverse("petitions:manage_create"),
        {
            "kind": "petition",
            "territory": tree.bologna_centro.pk,
            "title": "Riaprite la biblioteca",
            "text": "La biblioteca di quartiere è chiusa da un anno.",
            "target": "Presidente del Quartiere",
            "goal": 300,
        },
    )
    petition = Petition.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "petitions:manage_detail", args=[petition.pk]
    )
    assert petition.counters.count() == 16
    detail = client.get(response["Location"]).content.decode()
    # The copy-paste snippet for other sites, and the public page.
    assert "&lt;iframe src=&quot;http://testserver/firma/riaprite-la-biblioteca/incorpora/&quot;" in detail
    assert petition.get_absolute_url() in detail


def test_a_petition_needs_a_target_and_a_territory_in_scope(comms, tree):
    client = verified_client(comms)
    response = client.post(
        reverse("petitions:manage_create"),
        {"kind": "petition", "territory": tree.bologna.pk, "title": "T", "text": "Testo", "target": "", "goal": 10},
    )
    assert response.status_code == 400 and "Scrivi a chi sono destinate le firme" in response.content.decode()
    response = client.post(
        reverse("petitions:manage_create"),
        {"kind": "petition", "territory": tree.modena.pk, "title": "T", "text": "Testo", "target": "X", "goal": 10},
    )
    assert response.status_code == 400  # Modena is not in the choices of a Bologna officer
    with pytest.raises(PermissionDenied):
        actions.create_petition(actor=comms, territory=tree.modena, title="T", text="Testo", target="X")
    assert Petition.objects.count() == 0


def test_embed_page_may_be_framed_and_no_other_page_may(petition):
    client = Client()
    embed = client.get(reverse("petitions:embed", args=[petition.slug]))
    assert embed.status_code == 200
    assert "frame-ancestors *" in embed["Content-Security-Policy"]
    assert "X-Frame-Options" not in embed
    public = client.get(petition.get_absolute_url())
    assert "frame-ancestors 'none'" in public["Content-Security-Policy"]
    assert public["X-Frame-Options"] == "DENY"


def test_signing_inside_the_embed(petition, clock):
    """Framed by another site, the CSRF cookie is not sent: the embed takes the signature on its
    signed start time alone and thanks in the frame."""
    client = Client(enforce_csrf_checks=True)
    client.get(reverse("petitions:embed", args=[petition.slug]))
    response = sign(client, petition, clock, embed=True)
    assert response.status_code == 302
    assert response["Location"] == reverse("petitions:thanks_embed", args=[petition.slug])
    thanks = client.get(response["Location"])
    assert "frame-ancestors *" in thanks["Content-Security-Policy"]
    assert petition.signatures.count() == 1


def test_the_public_form_keeps_its_csrf_check(petition, clock):
    response = sign(Client(enforce_csrf_checks=True), petition, clock)
    assert response.status_code == 403 and petition.signatures.count() == 0


def _signed(petition, clock):
    sign(Client(), petition, clock, first_name="Anna", last_name="Neri", email="anna.neri@example.org")
    sign(
        Client(),
        petition,
        clock,
        first_name="Luca",
        last_name="Gialli",
        email="luca@example.org",
        comune="Modena",
        postal_code="41121",
    )


def test_delivery_csv_has_names_and_comuni_only_and_is_audited(petition, clock, comms):
    _signed(petition, clock)
    response = verified_client(comms).get(reverse("petitions:signatures_csv", args=[petition.pk]))
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["n", "cognome", "nome", "comune", "data"]
    assert [r[1:4] for r in rows[1:]] == [["Neri", "Anna", "Bologna"], ["Gialli", "Luca", "Modena"]]
    assert "anna.neri@example.org" not in response.content.decode("utf-8-sig")
    entry = AuditEntry.objects.filter(action="petitions.deliver_signatures").latest("id")
    assert entry.kind == AuditKind.EXPORT and entry.data["rows"] == 2 and entry.actor == comms


def test_delivery_includes_emails_when_the_notice_says_so(petition, clock, comms):
    Petition.objects.filter(pk=petition.pk).update(deliver_contacts=True)
    _signed(petition, clock)
    response = verified_client(comms).get(reverse("petitions:signatures_csv", args=[petition.pk]))
    assert "anna.neri@example.org" in response.content.decode("utf-8-sig")


def test_delivery_pdf_is_audited(petition, clock, comms):
    _signed(petition, clock)
    response = verified_client(comms).get(reverse("petitions:signatures_pdf", args=[petition.pk]))
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    entry = AuditEntry.objects.filter(action="petitions.deliver_signatures").latest("id")
    assert entry.kind == AuditKind.EXPORT and entry.data == {"format": "pdf", "rows": 2, "contacts": False}


def test_delivery_and_management_stay_within_scope(petition, clock, tree):
    _signed(petition, clock)
    modena = verified_client(make_official("comunicazione.modena", tree.modena, [Role.COMMUNICATION]))
    treasurer = verified_client(make_official("tesoriere.bologna", tree.bologna, [Role.TREASURY]))
    for name in ("manage_detail", "signatures_csv", "signatures_pdf"):
        url = reverse(f"petitions:{name}", args=[petition.pk])
        assert modena.get(url).status_code == 404
        assert treasurer.get(url).status_code in (403, 404)
    assert modena.post(reverse("petitions:manage_detail", args=[petition.pk]), {"open": "0"}).status_code == 404
    petition.refresh_from_db()
    assert petition.is_open
    assert not AuditEntry.objects.filter(action="petitions.deliver_signatures").exists()
    # A circolo secretary below Bologna does not see the federation's petition either.
    circolo = verified_client(make_official("comunicazione.centro", tree.bologna_centro, [Role.COMMUNICATION]))
    assert circolo.get(reverse("petitions:signatures_csv", args=[petition.pk])).status_code == 404
    assert petition.title not in circolo.get(reverse("petitions:manage_list")).content.decode()


def test_an_official_closes_and_adds_a_question(petition, comms):
    client = verified_client(comms)
    url = reverse("petitions:manage_detail", args=[petition.pk])
    response = client.post(url, {"label": "Quartiere?", "kind": "choice", "choices": "Navile\nSavena"})
    assert response.status_code == 302
    assert list(petition.questions.values_list("choices", flat=True)) == [["Navile", "Savena"]]
    bad = client.post(url, {"label": "Giorno?", "kind": "choice", "choices": "Sabato"})
    assert bad.status_code == 400 and "almeno due opzioni" in bad.content.decode()
    client.post(url, {"open": "0"})
    petition.refresh_from_db()
    assert not petition.is_open


def test_action_refuses_an_empty_title(comms, tree):
    with pytest.raises(ValidationError):
        actions.create_petition(actor=comms, territory=tree.bologna, title="  ", text="Testo", target="X")
