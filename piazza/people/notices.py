"""The notice registry (rule G5, GDPR art. 13): which version of a point of collection's privacy
notice is in force, whether the version a form showed may still be accepted, and the form field
that carries it (docs/dev/privacy-notices.md).

A form shows the current version in the visitor's language (Italian when there is none in it) and
posts back its id in a hidden field. On submit the version *shown* is recorded, never silently the
newer one: it is accepted while current and for `PRIVACY_NOTICE_GRACE_HOURS` after a newer version
of the same language was published; later, the form is refused and shows the new version.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from piazza.core.prepared import prepared_read
from piazza.people.models import NoticeVersion

DEFAULT_LANGUAGE = "it"
FIELD = "notice_version"


def _language(language: str | None) -> str:
    code = (language or translation.get_language() or DEFAULT_LANGUAGE).split("-")[0]
    return code if code in dict(settings.LANGUAGES) else DEFAULT_LANGUAGE


def current_version(key: str, language: str | None = None) -> NoticeVersion | None:
    """The version in force of `key`'s notice in `language` (the active one by default), falling
    back to Italian; None only when no notice was ever published for that point. A version is in
    force from its publication (there are no scheduled versions): the latest one."""
    wanted = _language(language)
    versions = NoticeVersion.objects.filter(notice__key=key).select_related("notice")
    found = versions.filter(language=wanted).order_by("-published_at", "-id").first()
    if found is None and wanted != DEFAULT_LANGUAGE:
        found = versions.filter(language=DEFAULT_LANGUAGE).order_by("-published_at", "-id").first()
    return found


def current_code(key: str) -> str:
    """The Italian version in force as a consent's `text_version` (e.g. "albo-2026.1"), for flows
    that show no notice themselves (an API, a command); "" when none was published."""
    version = current_version(key, DEFAULT_LANGUAGE)
    return version.code if version is not None else ""


def superseded_at(version: NoticeVersion) -> dt.datetime | None:
    """When a newer version of the same notice and language was published (None: still current)."""
    newer = (
        NoticeVersion.objects.filter(
            notice_id=version.notice_id, language=version.language, published_at__gt=version.published_at
        )
        .order_by("published_at")
        .values_list("published_at", flat=True)
        .first()
    )
    return newer


@prepared_read(NoticeVersion)
def _shown_version(pk: int, key: str) -> QuerySet[NoticeVersion]:
    """The version with, annotated, when a newer one of its notice and language was published:
    on every donate and join POST, so compiled once per process (ADR 0034)."""
    newer = NoticeVersion.objects.filter(
        notice_id=OuterRef("notice_id"), language=OuterRef("language"), published_at__gt=OuterRef("published_at")
    ).order_by("published_at")
    return (
        NoticeVersion.objects.filter(pk=pk, notice__key=key)
        .select_related("notice")
        .annotate(superseded_at=Subquery(newer.values("published_at")[:1]))
        .order_by("pk")[:1]
    )


# The versions forms showed, kept per process for less than the grace period (ADR 0048): a version
# row never changes (append-only, database triggers), and a newer version unseen by the read was
# published after it, so it can refuse a form only `PRIVACY_NOTICE_GRACE_HOURS` after the read. Kept
# for the grace period minus `SHOWN_CACHE_MARGIN` (a publication's commit after its timestamp, clocks
# of app servers apart), a kept version gives the answer a fresh read would give, on any server.
_shown_cache: dict[tuple[int, str], tuple[NoticeVersion, dt.datetime]] = {}
SHOWN_CACHE_MARGIN = dt.timedelta(hours=1)
SHOWN_CACHE_SIZE = 64  # versions in use at once: a few per point of collection and language


def forget_shown_versions() -> None:
    """Drop the kept versions (a test's rolled-back rows may reuse their ids)."""
    _shown_cache.clear()


def _shown(pk: int, key: str, at: dt.datetime) -> NoticeVersion | None:
    """`_shown_version.first(pk, key)`, answered from the process's copy while it gives the same answer."""
    kept_for = dt.timedelta(hours=settings.PRIVACY_NOTICE_GRACE_HOURS) - SHOWN_CACHE_MARGIN
    kept = _shown_cache.get((pk, key))
    if kept is not None and at < kept[1] + kept_for:
        return copy.copy(kept[0])  # the caller's own instance, as a read would give
    read_at = timezone.now()
    version = _shown_version.first(pk, key)
    if version is not None and kept_for > dt.timedelta(0):
        if len(_shown_cache) >= SHOWN_CACHE_SIZE:
            _shown_cache.clear()
        _shown_cache[(pk, key)] = (copy.copy(version), read_at)
    return version


def check_shown(key: str, raw: Any, *, at: dt.datetime | None = None) -> NoticeVersion:
    """The version a form says it showed, if it belongs to `key` and may still be accepted;
    otherwise a ValidationError telling the person to read the notice again. At most one query."""
    at = at or timezone.now()
    try:
        pk = int(str(raw or "").strip())
    except ValueError:
        pk = 0
    version = _shown(pk, key, at) if 0 < pk < 2**63 else None
    if version is None:
        raise ValidationError(
            _("Non risulta quale informativa privacy hai letto: ricarica la pagina, leggila e invia di nuovo."),
            code="notice_missing",
        )
    newer_at = version.superseded_at  # type: ignore[attr-defined]
    if newer_at is not None and newer_at <= at - dt.timedelta(hours=settings.PRIVACY_NOTICE_GRACE_HOURS):
        raise ValidationError(
            _(
                "L'informativa privacy è cambiata mentre compilavi il modulo: leggi la nuova versione "
                "(il link è qui sotto) e invia di nuovo."
            ),
            code="notice_outdated",
        )
    return version


def version_code(key: str, shown: NoticeVersion | None = None, *, legacy: str = "") -> str:
    """What a record keeps as its text version: the version the form showed, else the one in force
    (flows showing none: an API, a command), else `legacy` (the string such rows carried before
    the registry; only when nothing was ever published, e.g. an emptied test database)."""
    if shown is not None:
        return shown.code
    return current_code(key) or legacy


class NoticeFormMixin:
    """A form collecting personal data at one point of collection: call `setup_notice()` at the
    end of `__init__`; `notice_shown` is the version displayed (then the one accepted, once the
    form is valid). Render it with `{% include "web/_privacy_notice.html" with notice=form.notice_shown %}`."""

    notice_key: str
    notice_shown: NoticeVersion | None
    fields: dict[str, forms.Field]
    initial: Any
    data: Any
    is_bound: bool
    cleaned_data: dict[str, Any]

    def setup_notice(self) -> None:
        """An unbound form shows the version in force; a bound one reads it only if refused."""
        self.notice_shown = None
        if self.is_bound:
            self.fields[FIELD] = forms.CharField(widget=forms.HiddenInput, required=False)
            return
        self.notice_shown = current_version(self.notice_key)
        if self.notice_shown is not None:
            self.fields[FIELD] = forms.CharField(widget=forms.HiddenInput, required=False)
            self.initial[FIELD] = self.notice_shown.pk

    def clean_notice_version(self) -> NoticeVersion | None:
        try:
            version = check_shown(self.notice_key, self.cleaned_data.get(FIELD))
        except ValidationError as exc:
            self.notice_shown = current_version(self.notice_key)
            if self.notice_shown is None:
                return None  # nothing was ever published for this point: nothing to record
            # A hidden field's error would be invisible: at the top, and the form now carries
            # (and shows) the version in force, which the person reads before sending again.
            self.add_error(None, exc)  # type: ignore[attr-defined]
            data = self.data.copy()
            data[FIELD] = str(self.notice_shown.pk)
            self.data = data
            return None
        self.notice_shown = version
        return version
