"""Producing an export in the background (rule G5): the action the task calls.

Kept apart from `requests` (which enqueues the task) so the import graph stays one-way:
requests → tasks → production → emails.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from piazza.core.audit import record
from piazza.core.tasks import enqueue_on_commit
from piazza.people.models import Person
from piazza.privacy.emails import send_download_link
from piazza.privacy.export import build_document, to_json, to_pdf
from piazza.privacy.models import DataExport, ExportState, RequestStatus


def link_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def produce_export(*, export_id: int) -> str:
    """Produce the export; a failure is recorded on the export (visible on the request page and
    the board) and in the audit log, then raised so the worker logs it."""
    try:
        return _produce(export_id)
    except Exception as exc:
        with transaction.atomic():
            export = DataExport.objects.select_related("request").get(pk=export_id)
            DataExport.objects.filter(pk=export_id).update(state=ExportState.FAILED, error=type(exc).__name__[:300])
            record(
                "privacy.produce_export_failed",
                actor=None,
                obj=export.request,
                territory=export.request.territory,
                data={"export": export_id, "error": type(exc).__name__},
            )
        raise


def _produce(export_id: int) -> str:
    """Build the JSON and the PDF, store them privately, email a one-time download link.

    Idempotent: an export already produced (or downloaded, or expired) is left alone; a retry
    after a failure starts again."""
    with transaction.atomic():
        export = DataExport.objects.select_for_update().select_related("request").get(pk=export_id)
        if export.state not in (ExportState.QUEUED, ExportState.RUNNING, ExportState.FAILED):
            return str(export.state)
        request = export.request
        if request.person_id is None:
            export.state, export.error = ExportState.FAILED, "no person"
            export.save(update_fields=["state", "error"])
            return str(export.state)
        export.state, export.started_at = ExportState.RUNNING, timezone.now()
        export.save(update_fields=["state", "started_at"])
        person = Person.objects.get(pk=request.person_id)
        document = build_document(person)
        stem = f"{request.pk}-{secrets.token_hex(8)}"
        export.json_file.save(f"{stem}.json", ContentFile(to_json(document)), save=False)
        export.pdf_file.save(f"{stem}.pdf", ContentFile(to_pdf(document)), save=False)
        raw = secrets.token_urlsafe(32)
        now = timezone.now()
        export.sections = {
            name: {label: len(rows) for label, rows in tables.items()} for name, tables in document["sections"].items()
        }
        export.state, export.produced_at = ExportState.READY, now
        export.link_hash = link_digest(raw)
        export.link_expires_at = now + dt.timedelta(hours=settings.PRIVACY_EXPORT_LINK_HOURS)
        export.error = ""
        export.save()
        record(
            "privacy.produce_export",
            actor=None,
            obj=request,
            territory=request.territory,
            data={"export": export.pk, "rows": sum(sum(t.values()) for t in export.sections.values())},
        )
        record(
            "privacy.send_download_link",
            actor=None,
            obj=request,
            territory=request.territory,
            data={"export": export.pk, "expires_at": export.link_expires_at.isoformat()},
        )
        if request.status == RequestStatus.RECEIVED:
            request.status = RequestStatus.IN_PROGRESS
            request.save(update_fields=["status"])
        enqueue_on_commit(send_download_link, export.pk, raw)
    return str(export.state)


def expire_download_links() -> int:
    """Periodic: exports whose link expired unused lose their files (they are copies)."""
    now = timezone.now()
    count = 0
    for export in DataExport.objects.filter(state=ExportState.READY, link_expires_at__lte=now):
        with transaction.atomic():
            for stored in (export.json_file, export.pdf_file):
                if stored:
                    stored.delete(save=False)
            export.state = ExportState.EXPIRED
            export.save(update_fields=["state", "json_file", "pdf_file"])
            record(
                "privacy.expire_export",
                actor=None,
                obj=export.request,
                territory=export.request.territory,
                data={"export": export.pk},
            )
        count += 1
    return count
