"""Rule G4: the audit log is append-only (application and database) and tamper-evident."""

import pytest
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, IntegrityError, connection, transaction

from piazza.core.audit import record
from piazza.core.context import Origin, reset_origin, set_origin
from piazza.core.db import PURGE_FLAG_TABLE
from piazza.core.models import AuditEntry, AuditKind

pytestmark = pytest.mark.django_db


def test_record_keeps_who_what_where_and_from_where(tree, circolo_secretary):
    token = set_origin(Origin(ip="192.0.2.10", user_agent="Firefox", channel="web"))
    try:
        entry = record(
            "person.view",
            actor=circolo_secretary,
            obj=tree.bologna_centro,
            territory=tree.bologna_centro,
            kind=AuditKind.VIEW,
            data={"fields": ["email"]},
        )
    finally:
        reset_origin(token)
    entry.refresh_from_db()
    assert (entry.actor_label, entry.ip, entry.channel) == ("segretario.centro", "192.0.2.10", "web")
    assert entry.object_type == "territory.territory"
    assert entry.territory_path == tree.bologna_centro.path
    assert entry.verify()


def test_application_refuses_to_edit_or_delete_entries():
    entry = record("x.y", actor=None)
    entry.action = "changed"
    with pytest.raises(PermissionDenied):
        entry.save()
    with pytest.raises(PermissionDenied):
        entry.delete()


def test_database_refuses_update_even_behind_the_application():
    entry = record("x.y", actor=None)
    with pytest.raises((IntegrityError, DatabaseError)), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(action="tampered")
    assert AuditEntry.objects.get(pk=entry.pk).action == "x.y"


def test_database_refuses_delete_outside_test_purges():
    entry = record("x.y", actor=None)
    with transaction.atomic():
        with connection.cursor() as cursor:  # production has no purge flag
            cursor.execute(f"DELETE FROM {PURGE_FLAG_TABLE}")
        with pytest.raises((IntegrityError, DatabaseError)), transaction.atomic():
            AuditEntry.objects.filter(pk=entry.pk).delete()
        transaction.set_rollback(True)
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_digest_detects_a_change_made_in_the_database():
    entry = record("x.y", actor=None, data={"amount": 10})
    entry.data = {"amount": 1000}  # as if edited with the trigger dropped
    assert not entry.verify()
