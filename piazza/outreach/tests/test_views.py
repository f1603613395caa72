"""The officer's path through the back office (client tests): navigation, compose with bad input,
exclusions in words, preview audited (G4), schedule form errors."""

from __future__ import annotations

import pytest
from django.urls import reverse

from piazza.core.models import AuditEntry, AuditKind
from piazza.outreach.models import Broadcast, BroadcastStatus
from piazza.outreach.tests.conftest import make_person
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = pytest.mark.django_db


def test_reachable_from_the_dashboard_and_navigation(tree, officer):
    page = verified_client(officer).get(reverse("web:dashboard")).content.decode()
    assert reverse("outreach:list") in page and reverse("outreach:create") in page


def test_other_roles_do_not_see_broadcasts(tree):
    treasurer = make_official("tesoriere", tree.bologna, [Role.TREASURY])
    assert verified_client(treasurer).get(reverse("outreach:list")).status_code in (302, 403, 404)


def test_compose_refuses_empty_and_unknown_fields_and_writes_nothing(tree, officer, segment):
    client = verified_client(officer)
    data = {"territory": tree.bologna.pk, "segment": segment.pk, "subject": "Ciao", "body": "Ciao {{ cognome }}"}
    page = client.post(reverse("outreach:create"), data).content.decode()
    assert "Campi non previsti: cognome" in page
    page = client.post(reverse("outreach:create"), {**data, "body": ""}).content.decode()
    assert "Questo campo è obbligatorio" in page or "obbligatorio" in page
    data_ab = {**data, "body": "Ciao {{ nome }}", "subject_b": "Altro", "ab_sample_percent": 0}
    page = client.post(reverse("outreach:create"), data_ab).content.decode()
    assert "tra 1 e 25 per cento" in page
    assert not Broadcast.objects.exists()


def test_compose_then_exclusions_in_words_then_preview_audited(tree, officer, segment):
    member = make_person(tree.bologna_centro, "Iscritta", "iscritta@example.org", member=True)
    make_person(tree.bologna_centro, "Estraneo", "estraneo@example.org")
    client = verified_client(officer)
    data = {
        "territory": tree.bologna.pk,
        "segment": segment.pk,
        "subject": "Ciao {{ nome }}",
        "body": "Ciao **{{ nome }}**",
    }
    response = client.post(reverse("outreach:create"), data)
    broadcast = Broadcast.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("outreach:detail", args=[broadcast.pk])
    page = client.get(response["Location"]).content.decode()
    assert "1 persona la riceverà" in page
    assert "Non sono iscritti né contatti regolari e non hanno dato il consenso" in page
    assert "no_consent" not in page
    preview = client.get(reverse("outreach:preview", args=[broadcast.pk]), {"persona": member.pk})
    assert preview.status_code == 200 and "<strong>Iscritta</strong>" in preview.content.decode()
    assert AuditEntry.objects.filter(action="outreach.preview", kind=AuditKind.VIEW, object_id=str(member.pk)).exists()
    text = client.get(reverse("outreach:preview", args=[broadcast.pk]), {"persona": str(member.pk), "formato": "testo"})
    assert text.content.decode().startswith("Ciao Iscritta")
    # Someone outside the sending territory cannot be previewed.
    outsider = make_person(tree.modena_nord, "Modenese", "m@example.org", member=True)
    assert client.get(reverse("outreach:preview", args=[broadcast.pk]), {"persona": outsider.pk}).status_code == 404


def test_schedule_form_error_is_actionable(tree, officer, segment):
    client = verified_client(officer)
    data = {"territory": tree.bologna.pk, "segment": segment.pk, "subject": "x", "body": "x"}
    client.post(reverse("outreach:create"), data)
    broadcast = Broadcast.objects.get()
    response = client.post(reverse("outreach:schedule", args=[broadcast.pk]), {"send_at": "domani"}, follow=True)
    assert "Scrivi data e ora così" in response.content.decode()
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.DRAFT
