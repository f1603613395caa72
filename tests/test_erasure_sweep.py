"""Rule G5 (issue 12), swept: every column that can hold personal data is declared, and after an
erasure none of the person's values remains anywhere outside the named legal holds.

1. `test_every_personal_looking_column_is_declared` walks every concrete model and column of the
   project's apps and fails on one that looks personal (a foreign key to Person; a text, email,
   JSON or file column on a model pointing at a person; a name like email/phone/name/address/
   codice_fiscale/iban/ip…) and is declared neither in an app's `erasure.ERASURE` (with its
   treatment) nor in its `NOT_PERSONAL` (with a reason).
2. `test_erasure_leaves_nothing_outside_the_holds` gives a donor data in every declared place
   (gifts one-off and monthly, membership, consents, Albo, an import row, a fundraising page, a
   news subscription, timeline…), erases them through the official's page, and searches every
   string column of every table for their name, email, codice fiscale, phone and street: only the
   columns under a legal hold (and the KEEP columns, each with its reason) may still hold them.
   When the holds end, the periodic release erases those too. The ledger still balances.
   The audit log is swept like any table (its columns are REDACT, not KEEP): the entries about the
   person are pseudonymised in place and the audit chain still verifies (docs/dev/erasure.md).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.apps import apps
from django.db import models
from django.test.utils import isolate_apps
from django.urls import reverse

from piazza.core.auditchain import verify_chain
from piazza.core.erasure import KEEP, LINK, ROW
from piazza.core.models import AuditEntry
from piazza.funding.models import DonationStatus, Frequency, FundraisingPage, UpdateSubscription
from piazza.funding.tests.conftest import build_live_campaign
from piazza.funding.tests.flows import VALID_CF, give
from piazza.membership.models import Supporter
from piazza.membership.tests.conftest import paid, schedule  # noqa: F401 (the fixture)
from piazza.payments.models import RecurringSchedule, ScheduleState
from piazza.people.actions import consent as consent_people_actions
from piazza.people.actions import imports as imports_people_actions
from piazza.people.actions import person as person_people_actions
from piazza.people.models import BatchStatus, ErasedIdentity, ImportRow, Person, Phone
from piazza.privacy.erasure import declarations, release_expired_holds
from piazza.privacy.models import LegalHold
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = [pytest.mark.django_db]

NAME_HINT = re.compile(
    r"(email|phone|name|address|street|codice_fiscale|iban|(^|_)ip$|birth|payer|debtor|"
    r"counterparty|user_agent|notes?$|message|story|evidence|reason)"
)


def _project_models() -> list[type[models.Model]]:
    return [m for m in apps.get_models() if m.__module__.startswith("piazza.") and not m._meta.proxy]


def _looks_personal(model: type[models.Model], person: type[models.Model]) -> list[str]:
    points_at_person = model is person or any(
        f.is_relation and f.related_model is person for f in model._meta.get_fields() if f.concrete
    )
    found = []
    for f in model._meta.get_fields():
        if not f.concrete or getattr(f, "primary_key", False) or f.auto_created:
            continue
        if f.is_relation and f.related_model is person:
            found.append(f.name)
            continue
        free_text = isinstance(
            f, models.CharField | models.TextField | models.JSONField | models.FileField
        ) and not getattr(f, "choices", None)
        if (free_text and points_at_person) or (NAME_HINT.search(f.name) and not getattr(f, "choices", None)):
            found.append(f.name)
    return found


def test_every_personal_looking_column_is_declared() -> None:
    erasure, not_personal, reasons = declarations()
    person = apps.get_model("people", "Person")
    missing = []
    for model in _project_models():
        declared = set(erasure.get(model, {})) | set(not_personal.get(model, {}))
        if ROW in not_personal.get(model, {}):
            continue
        missing += [f"{model._meta.label}.{name}" for name in _looks_personal(model, person) if name not in declared]
    assert not missing, (
        "Declare these columns in the app's erasure.py (ERASURE with a treatment, or NOT_PERSONAL "
        f"with a reason): {missing}"
    )
    # Every declaration names a real column, and every KEEP says why.
    for model, fields in {**erasure, **not_personal}.items():
        for name in fields:
            if name != ROW:
                model._meta.get_field(name)
    unexplained = [
        f"{m._meta.label_lower}.{n}"
        for m, fields in erasure.items()
        for n, t in fields.items()
        if t == KEEP and f"{m._meta.label_lower}.{n}" not in reasons
    ]
    assert not unexplained, f"KEEP without a reason in KEEP_REASONS: {unexplained}"
    # Every foreign key to a person is declared as personal (its treatment), never as "not personal".
    links = [
        f"{m._meta.label}.{f.name}"
        for m in _project_models()
        for f in m._meta.concrete_fields
        if f.is_relation and f.related_model is person and f.name in not_personal.get(m, {})
    ]
    assert not links


def test_the_sweep_catches_an_undeclared_column() -> None:
    """The walk is not vacuous: a new column named like personal data is flagged."""
    with isolate_apps("piazza.privacy"):

        class Probe(models.Model):  # noqa: DJ008 (a throwaway model)
            person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
            note = models.TextField()
            amount = models.IntegerField()

            class Meta:
                app_label = "privacy"

        assert _looks_personal(Probe, Person) == ["person", "note"]


SECRETS = ["Giulia", "Rossi", VALID_CF, "giulia.0@example.org", "+393331234567", "Zamboni", "Gialla"]
# Whole words: "Giulianova" is a comune, not the donor.
SECRET_RE = re.compile("|".join(rf"(?<!\w){re.escape(s)}(?!\w)" for s in SECRETS), re.IGNORECASE)


# Lists loaded from outside that name places, not people ("Friuli-Venezia Giulia").
REFERENCE_DATA = {"territory.comune", "territory.territory"}


def _string_columns(model: type[models.Model]) -> list[str]:
    return [
        f.name
        for f in model._meta.concrete_fields
        if isinstance(f, models.CharField | models.TextField | models.JSONField)
    ]


def _leftovers(keep: set[tuple[str, str]], held: dict[tuple[str, Any], set[str]]) -> list[str]:
    found = []
    for model in _project_models():
        label = model._meta.label_lower
        if label in REFERENCE_DATA:
            continue
        for name in _string_columns(model):
            if (label, name) in keep:
                continue
            for pk, value in model._default_manager.values_list("pk", name):
                text = str(value or "")
                if SECRET_RE.search(text) and name not in held.get((label, pk), ()):
                    found.append(f"{label}#{pk}.{name}={text[:80]}")
    return found


def _held() -> dict[tuple[str, Any], set[str]]:
    held: dict[tuple[str, Any], set[str]] = {}
    for hold in LegalHold.objects.filter(released_at=None):
        for pk in hold.object_ids:
            held.setdefault((hold.model_label, pk), set()).update(hold.fields)
    return held


@pytest.mark.usefixtures("check_ledger")
def test_erasure_leaves_nothing_outside_the_holds(tree, schedule, django_capture_on_commit_callbacks) -> None:  # noqa: F811
    owner = make_official("tesoriere.centro", tree.bologna_centro, [Role.ORGANISATION, Role.TREASURY])
    approver = make_official("federazione.bo", tree.bologna, [Role.ORGANISATION, Role.TREASURY, Role.MEMBERSHIP])
    campaign = build_live_campaign(tree, owner, approver)
    with django_capture_on_commit_callbacks(execute=True):
        big = give(campaign, 60_000, message="Forza Giulia Rossi!")  # above €500: F1 register
        monthly = give(campaign, 2_500, frequency=Frequency.MONTHLY)
    assert big.status == monthly.status == DonationStatus.SUCCEEDED
    assert big.person_id is not None
    person = Person.objects.get(pk=big.person_id)
    assert monthly.person_id == person.pk
    assert RecurringSchedule.objects.get(payer=person).state == ScheduleState.ACTIVE
    membership = paid(
        tree,
        first="Giulia",
        last="Rossi",
        sex="F",
        birth_date=dt.date(1980, 1, 1),
        email="giulia.0@example.org",
        residence_street="Via Zamboni 1",
    )
    assert membership.person_id == person.pk
    Phone.objects.create(person=person, value="+393331234567", primary=True)
    consent_people_actions.record_consent(
        actor=None,
        person=person,
        purpose="newsletter",
        channel="web",
        text_version="2026-01",
        evidence="modulo di Giulia Rossi, giulia.0@example.org",
    )
    Supporter.objects.get_or_create(person=person, defaults={"territory": person.territory})  # Albo
    FundraisingPage.objects.create(
        campaign=campaign,
        person=person,
        slug="giulia-rossi",
        display_name="Giulia Rossi",
        title="La raccolta di Giulia",
        story="Sono Giulia Rossi",
        manage_token="t" * 43,
        goal_cents=10_000,
    )
    UpdateSubscription.objects.create(campaign=campaign, email="giulia.0@example.org", token="u" * 43)
    person_people_actions.update_person(
        actor=approver,
        person=person,
        data={
            "first_name": "Giulia",
            "last_name": "Rossi",
            "codice_fiscale": VALID_CF,
            "notes": "Abita nella casa Gialla",
            "emails": ["giulia.0@example.org"],
        },
    )
    content = (f"Cognome;Nome;Codice Fiscale;E-mail\r\nRossi;Giulia;{VALID_CF};giulia.0@example.org\r\n").encode()
    with django_capture_on_commit_callbacks(execute=True):
        batch = imports_people_actions.start_import(
            actor=approver, territory=tree.bologna, file_name="iscritti.csv", content=content
        )
        imports_people_actions.set_import_mapping(actor=approver, batch=batch, mapping=batch.mapping)
        imports_people_actions.run_import(actor=approver, batch=batch)
    batch.refresh_from_db()
    assert batch.status == BatchStatus.DONE and ImportRow.objects.get(batch=batch).person_id == person.pk
    keep = {
        (m._meta.label_lower, n)
        for m, fields in declarations()[0].items()
        for n, t in fields.items()
        if t in (KEEP, LINK)
    }
    assert _leftovers(keep, {}), "the sweep must see the donor's data before erasure"
    assert ("core.auditentry", "data") not in keep
    named = [f"{e.pk}:{e.action}" for e in AuditEntry.objects.all() if SECRET_RE.search(str(e.data))]
    assert named, "the audit log names the donor before erasure (the sweep must look there too)"
    assert verify_chain().ok

    client = verified_client(approver)
    url = reverse("privacy:erase", args=[person.pk])
    assert client.get(url).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"confirm": "cancella"})
    assert response.status_code == 302, response.content.decode()[:500]

    person.refresh_from_db()
    assert person.erased_at is not None and person.full_name == "Persona cancellata"
    assert set(ErasedIdentity.objects.values_list("kind", flat=True)) == {"email", "phone", "codice_fiscale"}
    assert RecurringSchedule.objects.get(payer=person).state == ScheduleState.CANCELED
    kinds = set(LegalHold.objects.values_list("kind", flat=True))
    assert {"accounting", "donor_register"} <= kinds
    left = _leftovers(keep, _held())
    assert not left, left
    # Rule G4 still holds: the pseudonymised entries keep their place in the chain, which verifies,
    # and one chained entry seals what the redaction wrote.
    report = verify_chain()
    assert report.ok, report.broken and report.broken.describe()
    redacted = AuditEntry.objects.filter(redacted_at__isnull=False)
    assert redacted.count() >= len(named)
    seal = AuditEntry.objects.get(action="core.redact_audit")
    assert set(seal.data["entries"]) == {str(pk) for pk in redacted.values_list("pk", flat=True)}
    assert seal.data["ref"].startswith("E-")
    assert AuditEntry.objects.filter(action="privacy.erase_person").get().data["counts"]["audit"]["legacy"] == 0
    big.refresh_from_db()
    assert big.codice_fiscale == VALID_CF and big.email == ""  # held for the receipt; the email went

    # The holds end (10 years of accounting): the periodic release erases the held columns too.
    assert release_expired_holds(today=dt.date(2045, 1, 1)) == LegalHold.objects.count()
    assert not _leftovers(keep, {}), _leftovers(keep, {})
    big.refresh_from_db()
    assert big.codice_fiscale == "" and big.first_name == "Persona cancellata"
