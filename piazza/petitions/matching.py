"""The work of a signature after the answer (issue 15): the signer matched into people, with the
consents, notice acceptance, timeline entry and audit entry; run by `tasks.process_signature`."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext_noop

from piazza.core.audit import record
from piazza.core.i18n import deferred
from piazza.core.outbound import announce
from piazza.people.actions.consent import record_consent
from piazza.people.actions.notices import note_notice_acceptance
from piazza.people.actions.person import add_timeline_entry, find_or_create_person
from piazza.people.models import Channel, Source
from piazza.people.notices import version_code
from piazza.petitions.models import Signature

TIMELINE_KIND = "petition_signed"


def process_signature(signature_id: int) -> bool:
    """The work of a signature that need not delay the signer (run by `tasks.process_signature`).

    The signer is deduplicated into people with `find_or_create_person` as the donation form
    does: from this public form (actor None) a person matched by a typed email is returned
    untouched (convention 16): no contact, consent or field of theirs changes; the consents ticked
    stay on the signature with the notice version (rule G3), and are applied only to a person
    this signature created. Idempotent: the signature row is locked and a signature already
    matched is left alone, so a second run (a retry, a duplicate enqueue) changes nothing.
    Returns whether this run did the work."""
    action = "petitions.sign_petition"
    with transaction.atomic():
        signature = (
            Signature.objects.select_for_update(of=("self",))
            .select_related("petition__territory", "notice_version")
            .filter(pk=signature_id)
            .first()
        )
        if signature is None or signature.person_id is not None:
            return False
        petition = signature.petition
        person = find_or_create_person(
            actor=None,
            source=Source.PETITION,
            data={
                "first_name": signature.first_name,
                "last_name": signature.last_name,
                "emails": [signature.email],
                "phones": [signature.phone] if signature.phone else [],
                "residence_comune": signature.comune,
                "residence_cap": signature.postal_code,
            },
        )
        Signature.objects.filter(pk=signature.pk).update(person=person)
        signature.person = person
        created_person = bool(getattr(person, "was_created", False))
        if signature.notice_version is not None:
            note_notice_acceptance(
                version=signature.notice_version,
                channel=Channel.WEB,
                person=person if created_person else None,
                source=signature,
            )
        if created_person:
            for purpose in signature.consents:
                record_consent(
                    actor=None,
                    person=person,
                    purpose=purpose,
                    channel=Channel.WEB,
                    text_version=version_code(petition.notice_key, signature.notice_version),
                    evidence=f"{petition.get_kind_display()} «{petition.title}»",
                    source="petition",
                )
        add_timeline_entry(
            person,
            kind=TIMELINE_KIND,
            actor=None,
            summary=deferred(gettext_noop("Ha firmato «%(title)s»"), title=petition.title),
            data={"petition": petition.pk, "signature": signature.pk, "kind": petition.kind},
        )
        record(
            action,
            actor=None,
            obj=signature,
            territory=petition.territory,
            data={"petition": petition.pk, "new_person": created_person, "consents": signature.consents},
        )
        # Issue 16: petitions here need no email confirmation, so a signature is "signed" once processed.
        announce(
            "petition.signed",
            object_id=signature.pk,
            territory_path=lambda: petition.territory.path,
            person_id=person.pk,
        )
    return True
