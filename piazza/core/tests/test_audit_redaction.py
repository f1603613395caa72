"""Rule G5 with G4 (issue 12): erasure pseudonymises the audit entries about a person in place, the
database allows nothing else, and the chain still verifies (docs/dev/erasure.md, ADR 0014)."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from piazza.core.audit import record
from piazza.core.audit_redaction import Subject, redact_entries
from piazza.core.auditchain import Problem, verify_chain
from piazza.core.models import AuditEntry
from piazza.core.tests.test_audit_chain import _tamper
from piazza.territory.testing import make_official

pytestmark = pytest.mark.django_db

EMAIL = "giulia.rossi@example.org"


def _subject(**extra) -> Subject:
    return Subject(pseudonym="E-0123456789ab", identifiers={EMAIL, "Giulia Rossi"}, names={"Giulia", "Rossi"}, **extra)


def _raw(sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_entries_naming_the_person_are_pseudonymised_and_the_chain_verifies(tree):
    official = make_official("segreteria.centro", tree.bologna_centro, [])
    before = record("test.before", actor=None, data={"n": 0})
    about = record("people.update", actor=official, obj=tree.bologna_centro, data={"first_name": "Giulia", "n": 1})
    mention = record("funding.message", actor=None, data={"text": f"Scrivete a {EMAIL}!", "amount": 2500})
    other_rossi = record("people.update", actor=official, data={"last_name": "Rossi", "n": 3})  # someone else
    after = record("test.after", actor=None, data={"n": 4})
    assert all(e.personal_digest for e in (before, about, mention, other_rossi, after))
    subject = _subject(about={("territory.territory", str(tree.bologna_centro.pk))})

    result = redact_entries(actor=None, subject=subject)

    assert sorted(result.redacted) == sorted([about.pk, mention.pk])
    about.refresh_from_db()
    mention.refresh_from_db()
    other_rossi.refresh_from_db()
    assert about.data == {"first_name": "E-0123456789ab", "n": 1}  # a personal key, entry about them
    assert about.actor_label == "segreteria.centro"  # the official who acted stays (G4)
    assert mention.data == {"text": "Scrivete a E-0123456789ab!", "amount": 2500}
    assert other_rossi.data == {"last_name": "Rossi", "n": 3} and other_rossi.redacted_at is None
    assert about.redacted_at is not None and mention.redacted_at is not None
    seal = AuditEntry.objects.get(action="core.redact_audit")
    assert set(seal.data["entries"]) == {str(about.pk), str(mention.pk)}
    assert (seal.seq or 0) > (after.seq or 0) and before.redacted_at is None
    report = verify_chain()
    assert report.ok, report.broken and report.broken.describe()
    # A second sweep finds nothing left to do.
    assert redact_entries(actor=None, subject=subject).redacted == []


def test_the_persons_own_requests_lose_their_address_and_browser(tree):
    official = make_official("segreteria.centro", tree.bologna_centro, [])
    own = AuditEntry(action="community.view_space", object_type="people.person", object_id="77", data={"n": 1})
    own.ip, own.user_agent = "203.0.113.9", "Mozilla/5.0 (Giulia's phone)"
    own.save()
    by_official = AuditEntry(
        action="people.view", actor=official, object_type="people.person", object_id="77", data={"n": 2}
    )
    by_official.actor_label, by_official.ip = official.username, "198.51.100.1"
    by_official.save()
    redact_entries(actor=None, subject=_subject(about={("people.person", "77")}))
    own.refresh_from_db()
    by_official.refresh_from_db()
    assert (own.ip, own.user_agent) == ("", "")
    assert by_official.ip == "198.51.100.1" and by_official.redacted_at is None  # nothing of hers in it
    assert verify_chain().ok


def _refused(sql: str, params: list) -> None:
    with pytest.raises(DatabaseError), transaction.atomic():
        _raw(sql, params)


def test_the_database_allows_one_redaction_of_the_personal_columns_and_nothing_else():
    entry = record("test.x", actor=None, data={"email": EMAIL})
    now = timezone.now()
    _refused("UPDATE core_auditentry SET action = 'erased' WHERE id = %s", [entry.pk])
    _refused("UPDATE core_auditentry SET data = %s WHERE id = %s", ['{"email": "x"}', entry.pk])  # no redacted_at
    _refused(
        "UPDATE core_auditentry SET data = %s, redacted_at = %s, object_id = 'x' WHERE id = %s",
        ['{"email": "x"}', now, entry.pk],
    )
    _refused(
        "UPDATE core_auditentry SET data = %s, redacted_at = %s, personal_digest = 'f' WHERE id = %s",
        ['{"email": "x"}', now, entry.pk],
    )
    _raw("UPDATE core_auditentry SET data = %s, redacted_at = %s WHERE id = %s", ['{"email": "E-1"}', now, entry.pk])
    _refused("UPDATE core_auditentry SET data = %s, redacted_at = %s WHERE id = %s", ['{"email": "y"}', now, entry.pk])


def test_an_unsealed_or_later_edited_redaction_is_found():
    record("test.a", actor=None, data={"email": EMAIL})
    second = record("test.b", actor=None, data={"email": EMAIL})
    redact_entries(actor=None, subject=Subject(pseudonym="E-1", identifiers={EMAIL}))
    assert verify_chain().ok
    # Someone with the database edits a redacted entry again: its columns no longer match the seal.
    _tamper("UPDATE core_auditentry SET data = %s WHERE id = %s", ['{"email": "someone else"}', second.pk])
    report = verify_chain()
    assert report.broken is not None
    assert (report.broken.problem, report.broken.entry_id) == (Problem.ALTERED, second.pk)


def test_a_redaction_without_its_sealing_entry_is_found():
    """The trigger lets the personal columns be redacted once; without the chained
    `core.redact_audit` entry, blanking history that way is reported as tampering."""
    entry = record("test.c", actor=None, data={"email": EMAIL})
    record("test.d", actor=None, data={})
    _raw(
        "UPDATE core_auditentry SET data = %s, redacted_at = %s WHERE id = %s",
        ['{"email": ""}', timezone.now(), entry.pk],
    )
    report = verify_chain()
    assert report.broken is not None
    assert (report.broken.problem, report.broken.entry_id) == (Problem.ALTERED, entry.pk)
    assert "pseudonimizzazione" in report.broken.describe()


def test_an_edit_of_personal_columns_outside_a_redaction_is_found():
    entry = record("test.e", actor=None, data={"n": 1})
    _tamper("UPDATE core_auditentry SET ip = %s WHERE id = %s", ["10.0.0.1", entry.pk])
    report = verify_chain()
    assert report.broken is not None and report.broken.entry_id == entry.pk
