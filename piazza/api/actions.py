"""Writes of the API app: keys (create, revoke, use) and the OSDI person signup helper."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.api.access import grantable_permissions
from piazza.api.models import ApiKey, Permission
from piazza.core.audit import record
from piazza.core.errors import refuse
from piazza.core.models import AuditKind
from piazza.people.actions.consent import record_consent
from piazza.people.actions.notices import note_notice_acceptance
from piazza.people.actions.person import find_or_create_person
from piazza.people.models import Channel, Person, Purpose, Source
from piazza.people.notices import current_version
from piazza.territory.models import Territory
from piazza.territory.scoping import has_role_at

TOKEN_PREFIX = "pz"
MAX_DAYS = 366  # a key lives at most a year: a forgotten key dies by itself
SIGNUP_NOTICE = "signup"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_key(
    *,
    actor: Any,
    territory: Territory,
    name: str,
    permissions: Iterable[str],
    expires_on: dt.date,
) -> tuple[ApiKey, str]:
    """A new key and its token (shown once: only its hash is kept).

    The creator must hold, at `territory`, the roles of every permission asked (`grantable_permissions`).
    """
    action = "api.create_key"
    wanted = sorted(set(permissions))
    if not has_role_at(actor, territory):
        refuse(
            action,
            _("Puoi creare chiavi solo per la tua struttura o quelle sotto di essa."),
            actor=actor,
            territory=territory,
            code="scope",
            field="territory",
            permission=True,
        )
    if not name.strip():
        refuse(
            action,
            _("Dai un nome alla chiave (per esempio lo strumento che la userà)."),
            actor=actor,
            territory=territory,
            code="name",
            field="name",
        )
    if not wanted:
        refuse(
            action,
            _("Scegli almeno un permesso."),
            actor=actor,
            territory=territory,
            code="permissions",
            field="permissions",
        )
    unknown = [p for p in wanted if p not in Permission.values]
    allowed = set(grantable_permissions(actor, territory))
    if unknown or not set(wanted) <= allowed:
        refuse(
            action,
            _("Puoi dare alla chiave solo permessi che il tuo ruolo ha in questa struttura."),
            actor=actor,
            territory=territory,
            code="permissions",
            field="permissions",
        )
    today = timezone.localdate()
    if not today < expires_on <= today + dt.timedelta(days=MAX_DAYS):
        refuse(
            action,
            _("La scadenza deve essere tra domani e un anno da oggi."),
            actor=actor,
            territory=territory,
            code="expiry",
            field="expires_on",
        )
    prefix = secrets.token_hex(4)
    token = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    expires_at = timezone.make_aware(dt.datetime.combine(expires_on, dt.time(23, 59, 59)))
    with transaction.atomic():
        key = ApiKey.objects.create(
            name=name.strip()[:80],
            prefix=prefix,
            token_hash=hash_token(token),
            owner=actor,
            territory=territory,
            permissions=wanted,
            expires_at=expires_at,
        )
        record(
            action,
            actor=actor,
            obj=key,
            territory=territory,
            data={"prefix": prefix, "permissions": wanted, "expires_at": expires_at.isoformat()},
        )
    return key, token


def revoke_api_key(*, actor: Any, key: ApiKey) -> ApiKey:
    """Stops the key at once; the row stays for the audit trail."""
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update().get(pk=key.pk)
        if locked.revoked_at is None:
            locked.revoked_at = timezone.now()
            locked.revoked_by = actor
            locked.save(update_fields=["revoked_at", "revoked_by"])
            record(
                "api.revoke_key", actor=actor, obj=locked, territory=locked.territory, data={"prefix": locked.prefix}
            )
    return locked


def find_key(token: str) -> ApiKey | None:
    """The usable key for a presented token, or None (unknown, wrong secret, expired, revoked)."""
    parts = token.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return None
    key = ApiKey.objects.usable().select_related("territory").filter(prefix=parts[1]).first()
    if key is None or not hmac.compare_digest(key.token_hash, hash_token(token.strip())):
        return None
    return key


def note_key_use(*, key: ApiKey, actor: Any, method: str, path: str, objects: list[str]) -> None:
    """Rule G4: every use of a key is logged like a page view, the key named in the entry."""
    now = timezone.now()
    with transaction.atomic():
        record(
            "api.read",
            actor=actor,
            territory=key.territory,
            kind=AuditKind.VIEW,
            data={
                "api_key": key.prefix,
                "key_name": key.name,
                "method": method,
                "path": path,
                "objects": objects[:100],
            },
        )
        if key.last_used_at is None or now - key.last_used_at > dt.timedelta(minutes=1):
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)


@dataclass
class Signup:
    """An OSDI person signup helper body, read into the fields `find_or_create_person` takes."""

    data: dict[str, Any]
    consents: dict[str, bool] = field(default_factory=dict)
    circolo: Territory | None = None


def person_signup_helper(*, actor: Any, key: ApiKey, signup: Signup) -> Person:
    """OSDI `person_signup_helper`: finds or creates the person exactly as the import and the
    forms do (dedupe, erased-identity check, scope), then records the consents given (rule G3)
    with the signup notice version in force and the notice acceptance. A matched person is
    written to only when the key's owner could write to them on the desk (`may_write_matched`).
    """
    action = "api.person_signup_helper"
    notice = current_version(SIGNUP_NOTICE, "it")
    if signup.consents and notice is None:
        refuse(
            action,
            _("Manca l'informativa privacy dei moduli di iscrizione: pubblicala prima di raccogliere consensi."),
            actor=actor,
            territory=key.territory,
            code="notice",
        )
    unknown = [p for p in signup.consents if p not in Purpose.values]
    if unknown:
        refuse(
            action,
            _("Finalità di consenso sconosciuta: %(names)s. Usa: %(known)s.")
            % {"names": ", ".join(unknown), "known": ", ".join(Purpose.values)},
            actor=actor,
            territory=key.territory,
            code="purpose",
            field="consents",
        )
    person = find_or_create_person(actor=actor, data=signup.data, circolo=signup.circolo, source=Source.API)
    with transaction.atomic():
        if notice is not None and (signup.consents or person.was_created):
            note_notice_acceptance(version=notice, channel=Channel.WEB, person=person, recorded_by=actor)
        written = person.was_created or has_role_at(actor, person.territory)
        for purpose, given in sorted(signup.consents.items()):
            if written and notice is not None:
                record_consent(
                    actor=actor,
                    person=person,
                    purpose=purpose,
                    channel=Channel.WEB,
                    text_version=notice.code,
                    given=given,
                    source="api",
                )
        record(
            action,
            actor=actor,
            obj=person,
            territory=person.territory,
            data={"api_key": key.prefix, "created": person.was_created, "consents": signup.consents},
        )
    return person
