"""Rule G5: the registry of data handlers covers every personal model, and the JSON export holds
every section and, for a donor who is also a member with consents, everything about them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import models
from django.test.utils import isolate_apps

from piazza.privacy import registry
from piazza.privacy.export import build_document, to_json, to_pdf

pytestmark = pytest.mark.django_db


def test_every_model_pointing_at_a_person_is_covered_by_a_handler():
    """G5: a model with a key to people.Person is declared by some handler (as personal data, or
    as not personal with a reason); a new one without a declaration fails here."""
    assert registry.uncovered_models() == []
    for handler in registry.handlers():
        for model, reason in handler.not_personal.items():
            assert len(reason) > 20, f"{model._meta.label}: give the reason it holds no personal data"


@isolate_apps("piazza.privacy")
def test_a_new_personal_model_without_a_handler_is_reported():
    class Petition(models.Model):  # a future app's model, declared by nobody
        signer = models.ForeignKey("people.Person", on_delete=models.CASCADE)

        class Meta:
            app_label = "privacy"

        def __str__(self) -> str:
            return f"petition {self.pk}"

    from piazza.people.models import Person

    # Resolve the lazy reference in the isolated registry to the real Person model.
    signer: Any = Petition._meta.get_field("signer")
    signer.remote_field.model = Person
    assert registry.uncovered_models([Petition]) == ["privacy.petition"]


def test_the_json_export_has_every_handler_section_and_every_declared_model(subject: Any):
    document = json.loads(to_json(build_document(subject)))
    sections = document["sections"]
    assert set(sections) == {h.section for h in registry.handlers()}
    for handler in registry.handlers():
        for model in handler.personal_models:
            assert model._meta.label_lower in sections[handler.section], (handler.section, model._meta.label)


def test_the_export_is_complete_for_a_donor_member_with_consents(subject: Any):
    """G5 and G3: profile, email, the gift, its payment, the membership, both consent events with
    their text versions, and the audit entries about the person and their rows."""
    sections = json.loads(to_json(build_document(subject)))["sections"]
    person = sections["people"]["people.person"][0]
    assert (person["first_name"], person["last_name"], person["codice_fiscale"]) == (
        "Giulia",
        "Rossi",
        subject.codice_fiscale,
    )
    assert "giulia.0@example.org" in [e["value"] for e in sections["people"]["people.email"]]
    consents = sections["people"]["people.consent"]
    newsletter = [(c["granted"], c["text_version"]) for c in consents if c["purpose"]["value"] == "newsletter"]
    assert newsletter == [(True, "informativa-2026-01"), (False, "revoca")]
    [gift] = sections["funding"]["funding.donation"]
    assert (gift["amount_cents"], gift["status"]["value"]) == (2500, "succeeded")
    payments = sections["payments"]["payments.payment"]
    assert 2500 in [p["amount_cents"] for p in payments]
    [membership] = sections["membership"]["membership.membership"]
    assert membership["year"] == subject.memberships.get().year and membership["card_number"]
    assert sections["membership"]["membership.supporter"], "every member is in the Albo (M1)"
    audit = sections["audit"]["core.auditentry"]
    audited = {(a["object_type"], a["object_id"]) for a in audit}
    assert ("funding.donation", str(gift["id"])) in audited
    assert ("membership.membership", str(membership["id"])) in audited
    # Secrets of the platform are not the person's data and never leave.
    flat = json.dumps(sections)
    for secret in ("manage_token", "idempotency_key", "token_hash", "payer_fingerprint"):
        assert f'"{secret}"' not in flat


def test_the_pdf_is_a_readable_copy_of_the_same_content(subject: Any):
    pdf = to_pdf(build_document(subject))
    assert pdf.startswith(b"%PDF") and len(pdf) > 2000
