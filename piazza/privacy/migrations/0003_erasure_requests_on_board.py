"""Erasure requests become DataRequest(kind="erasure") so the privacy officer's board, with its
one-month deadline (GDPR art. 12(3)), shows them; the stand-in ErasureRequest rows move over."""

import calendar
import datetime as dt

from django.conf import settings
from django.db import migrations
from django.utils import timezone


def _add_months(day, months):
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def move_rows(apps, schema_editor):
    ErasureRequest = apps.get_model("privacy", "ErasureRequest")
    DataRequest = apps.get_model("privacy", "DataRequest")
    for old in ErasureRequest.objects.select_related("person").order_by("pk"):
        received = timezone.localdate(old.requested_at)
        done = old.status == "done"
        DataRequest.objects.create(
            kind="erasure", status="answered" if done else "received",
            channel="online" if old.via == "self" else "paper", person_id=old.person_id,
            territory_id=old.person.territory_id, received_on=received,
            due_on=_add_months(received, int(settings.PRIVACY_RESPONSE_MONTHS)),
            created_at=old.requested_at, closed_at=old.done_at if done else None,
            recorded_by_id=None if old.via == "self" else old.done_by_id)


class Migration(migrations.Migration):

    dependencies = [
        ("privacy", "0002_erasure"),
    ]

    operations = [
        migrations.RunPython(move_rows, migrations.RunPython.noop),
        migrations.DeleteModel(name="ErasureRequest"),
    ]
