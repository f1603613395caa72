"""Privacy notices: the shipped defaults, new versions published by the privacy officer, and
who was shown which version (rule G5, GDPR arts. 7(1) and 13; rule G3 for the evidence)."""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.core.audit import Actor, record
from piazza.core.errors import refuse
from piazza.core.markdown import render_markdown
from piazza.core.write_queue import queue_insert
from piazza.people.models import CollectionPoint, NoticeAcceptance, NoticeVersion, Person, PrivacyNotice
from piazza.people.notice_texts import DEFAULT_LABEL, DEFAULT_PUBLISHED_AT, default_text

LABEL_MAX = 20


def ensure_default_notices(*, actor: Actor = None) -> int:
    """Every point of collection gets its notice and, in each language with none yet, the shipped
    text (people.notice_texts). Idempotent; returns how many versions it published."""
    created = 0
    with transaction.atomic():
        for key in CollectionPoint.values:
            notice, _new = PrivacyNotice.objects.get_or_create(key=key)
            for language, _name in settings.LANGUAGES:
                if notice.versions.filter(language=language).exists():
                    continue
                title, body = default_text(key, language)
                NoticeVersion.objects.create(
                    notice=notice,
                    label=DEFAULT_LABEL,
                    language=language,
                    title=title,
                    body=body,
                    body_html=render_markdown(body),
                    published_at=DEFAULT_PUBLISHED_AT,
                )
                created += 1
        if created:
            record("people.ensure_default_notices", actor=actor, data={"versions": created})
    return created


def publish_notice_version(
    *, actor: Actor, notice: PrivacyNotice, language: str, label: str, title: str, body: str, changes: str = ""
) -> NoticeVersion:
    """A new version of `notice` in `language`, in force from now: forms show it at once; a form
    opened before keeps being accepted for PRIVACY_NOTICE_GRACE_HOURS with the version it showed."""
    action = "people.publish_notice_version"
    label, title, body = label.strip(), title.strip(), body.strip()
    if language not in dict(settings.LANGUAGES):
        refuse(action, _("Scegli la lingua della nuova versione."), actor=actor, code="language", field="language")
    if not label or len(label) > LABEL_MAX:
        refuse(
            action,
            _("Scrivi un'etichetta di versione breve (al massimo 20 caratteri), per esempio 2027.1."),
            actor=actor,
            code="label",
            field="label",
        )
    if notice.versions.filter(label=label, language=language).exists():
        refuse(
            action,
            _("La versione %(label)s esiste già in questa lingua: usa un'etichetta nuova, per esempio %(label)s-b.")
            % {"label": label},
            actor=actor,
            code="label_taken",
            field="label",
        )
    if not title:
        refuse(action, _("Scrivi il titolo dell'informativa."), actor=actor, code="title", field="title")
    if len(body) < 200:
        refuse(
            action,
            _(
                "Il testo è troppo breve per un'informativa (art. 13 GDPR): indica titolare, finalità, "
                "base giuridica, conservazione, destinatari e diritti."
            ),
            actor=actor,
            code="body",
            field="body",
        )
    with transaction.atomic():
        previous = notice.versions.filter(language=language).order_by("-published_at", "-id").first()
        version = NoticeVersion.objects.create(
            notice=notice,
            label=label,
            language=language,
            title=title,
            body=body,
            body_html=render_markdown(body),
            changes=changes.strip(),
            published_at=timezone.now(),
            published_by=cast(Any, actor) if getattr(actor, "is_authenticated", False) else None,
        )
        record(
            action,
            actor=actor,
            obj=version,
            data={
                "notice": notice.key,
                "language": language,
                "label": label,
                "previous": previous.label if previous else "",
            },
        )
    return version


def note_notice_acceptance(
    *,
    version: NoticeVersion,
    channel: str,
    person: Person | None = None,
    source: Any = None,
    recorded_by: Any = None,
) -> NoticeAcceptance:
    """Part of the calling action (its transaction and audit entry name the version): the person
    was shown `version` at its point of collection and sent the form. `source` is the row the
    form wrote (a donation before its donor is known) so `attach_notice_acceptances` links it later.
    Inside `audited_atomic()` the row is written with the block's last statement (ADR 0046): no
    action reads an acceptance back in the transaction that notes it."""
    acceptance = NoticeAcceptance(
        version=version,
        person=person,
        collection_point=version.notice.key,
        channel=channel,
        source_label=source._meta.label_lower if source is not None else "",
        source_id=source.pk if source is not None else None,
        recorded_by=recorded_by if getattr(recorded_by, "is_authenticated", False) else None,
    )
    queue_insert(acceptance)
    return acceptance


def attach_notice_acceptances(*, source: Any, person: Person) -> int:
    """Part of the calling action: the acceptances of `source` now belong to its person."""
    return NoticeAcceptance.objects.filter(
        source_label=source._meta.label_lower, source_id=source.pk, person__isnull=True
    ).update(person=person)
