"""Where uploaded files live, and how a private one reaches the one official allowed to see it.

Two stores (settings.STORAGES, issue 14 "stateless app servers"): `default` for public uploads
(campaign images) and `private` for scans, signed declarations, receipts and data-subject
exports. Both are local directories on one machine and an S3-compatible bucket when several app
servers share the work (`FILE_STORAGE=s3`, django-storages; docs/deploy.md, ADR 0029). A private
file never has a URL: it is read back through the storage by a scoped, audited view.
"""

from __future__ import annotations

import mimetypes
import os
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings
from django.core.files.storage import FileSystemStorage, storages
from django.core.signals import setting_changed
from django.db.models.fields.files import FieldFile
from django.dispatch import receiver
from django.http import HttpResponse
from django.utils.functional import LazyObject, empty


class PrivateFileStorage(FileSystemStorage):
    """Files outside MEDIA_ROOT with no URL at all: `PRIVATE_MEDIA_ROOT` (default var/private),
    read from settings at each use so tests and deployments can move it."""

    @property  # type: ignore[override]
    def base_location(self) -> str:
        return str(getattr(settings, "PRIVATE_MEDIA_ROOT", None) or Path(settings.BASE_DIR) / "var" / "private")

    @property  # type: ignore[override]
    def location(self) -> str:
        return os.path.abspath(self.base_location)

    def url(self, name: str | None) -> str:
        raise ValueError("private files have no public URL: serve them through a scoped, audited view")


class PrivateStore(LazyObject):
    """The `private` store, looked up at first use rather than when models are defined, so that a
    deployment's (or a test's) STORAGES is the one used."""

    def _setup(self) -> None:
        self._wrapped = storages["private"]


private_store = PrivateStore()


@receiver(setting_changed)
def _forget_private_store(*, setting: str, **kwargs: Any) -> None:
    if setting == "STORAGES":
        private_store._wrapped = empty  # type: ignore[assignment]  # LazyObject's own "not set up yet"


def private_file_response(stored: FieldFile, filename_stem: str, *, inline: bool = False) -> HttpResponse:
    """The file's bytes for a browser, never cached, never sniffed; the caller has checked scope
    and written the audit entry (rule G4) before calling."""
    with stored.open("rb") as handle:
        content = handle.read()
    suffix = PurePosixPath(stored.name or "").suffix.lower()
    response = HttpResponse(content, content_type=mimetypes.guess_type(f"x{suffix}")[0] or "application/octet-stream")
    disposition = "inline" if inline else "attachment"
    response["Content-Disposition"] = f'{disposition}; filename="{filename_stem}{suffix}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
