"""Passkeys (WebAuthn) for Il mio spazio: the relying party, the options handed to the browser and
the challenge kept in the browser's session (docs/adr/0018-passkeys.md, docs/dev/passkeys.md).
Writes are in `community.actions`; the WebAuthn checks are py_webauthn's."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import salted_hmac
from webauthn import generate_authentication_options, generate_registration_options, options_to_json
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from piazza.community.models import Passkey
from piazza.people.models import Person

CHALLENGE_KEY = "community.passkey_challenge"
MAX_BODY_BYTES = 32_000  # a credential is a few KB at most


@dataclass(frozen=True)
class RelyingParty:
    id: str
    origins: list[str]
    name: str


def relying_party(request: HttpRequest) -> RelyingParty:
    """From the settings, or else from the request's host (which Django has already checked
    against ALLOWED_HOSTS). A passkey is bound by the browser to the id: change it and every
    passkey stops working."""
    host = request.get_host()
    hostname = host if host.endswith("]") else host.rsplit(":", 1)[0]
    origins = list(settings.COMMUNITY_PASSKEY_ORIGINS) or [f"{request.scheme}://{host}"]
    return RelyingParty(
        id=str(settings.COMMUNITY_PASSKEY_RP_ID or hostname),
        origins=origins,
        name=str(settings.COMMUNITY_PASSKEY_RP_NAME),
    )


def challenge_digest(challenge: bytes) -> str:
    return hashlib.sha256(challenge).hexdigest()


def expires_at() -> datetime:
    return timezone.now() + timedelta(seconds=int(settings.COMMUNITY_PASSKEY_CHALLENGE_SECONDS))


def user_handle_for(person: Person) -> bytes:
    """The WebAuthn user.id: a keyed hash of the record's id (never the id itself or an address,
    which the authenticator would hold and show), the same for all of a person's passkeys so an
    authenticator replaces its old one instead of piling them up. Each passkey row keeps the handle
    it was made with: after a merge the survivor's rows may carry the merged record's handle."""
    return salted_hmac("piazza.community.passkey.user-handle", str(person.pk), algorithm="sha256").digest()


def registration_options(rp: RelyingParty, person: Person, challenge: bytes, handle: bytes) -> str:
    email = person.primary_email.value if person.primary_email else ""
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_id=handle,
        user_name=email or person.full_name,
        user_display_name=person.full_name or email,
        challenge=challenge,
        timeout=int(settings.COMMUNITY_PASSKEY_CHALLENGE_SECONDS) * 1000,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id), transports=_transports(p.transports))
            for p in Passkey.objects.filter(person=person)
        ],
    )
    return options_to_json(options)


def authentication_options(rp: RelyingParty, challenge: bytes) -> str:
    """Discoverable credentials: no list of allowed ids (that would tell who has a passkey);
    the authenticator offers the passkeys it holds for this site."""
    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=challenge,
        timeout=int(settings.COMMUNITY_PASSKEY_CHALLENGE_SECONDS) * 1000,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return options_to_json(options)


def _transports(values: Any) -> list[AuthenticatorTransport] | None:
    known = {t.value: t for t in AuthenticatorTransport}
    found = [known[v] for v in values or [] if v in known]
    return found or None


def keep_challenge(request: HttpRequest, purpose: str, challenge: bytes, person: Person | None = None) -> None:
    """The newest challenge of this browser's session replaces any earlier one."""
    request.session[CHALLENGE_KEY] = {
        "purpose": purpose,
        "challenge": bytes_to_base64url(challenge),
        "person": int(person.pk) if person is not None else None,
    }


def take_challenge(request: HttpRequest, purpose: str, person: Person | None = None) -> bytes | None:
    """The challenge this session was given for `purpose` (and this person), removed from the
    session whatever the outcome: a ceremony gets one try."""
    state = request.session.pop(CHALLENGE_KEY, None)
    if not isinstance(state, dict) or state.get("purpose") != purpose:
        return None
    if person is not None and state.get("person") != int(person.pk):
        return None
    try:
        return base64url_to_bytes(str(state.get("challenge") or ""))
    except ValueError:
        return None


def read_json(request: HttpRequest) -> dict[str, Any] | None:
    if len(request.body) > MAX_BODY_BYTES:
        return None
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
