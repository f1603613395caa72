"""Remembered devices and payer links."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.core.audit import Actor, record
from piazza.core.errors import refuse
from piazza.core.tasks import enqueue_on_commit
from piazza.payments.emails import (
    send_device_link,
    send_payer_link,
)
from piazza.payments.models import (
    LinkPurpose,
    MethodDevice,
    PayerAccessLink,
    Payment,
    SavedMethod,
    token_digest,
)
from piazza.payments.queries import payer_has_payments

from ._transitions import _locked

# --- who may act for a payer (convention 16): device tokens and emailed one-time links -------

PAYER_LINK_LIFETIME = timedelta(minutes=30)


def remember_device(*, actor: Actor, payment: Payment, label: str = "") -> str | None:
    """Authorise this browser to charge the method that `payment` saved, in one click.

    Only for a booked payment whose payer asked to save the method; one device per payment
    (the unique `payment` column), so a replayed request issues nothing more. Returns the raw
    token to set in the browser's cookie, or None when nothing may be remembered.
    """
    raw = secrets.token_urlsafe(32)
    with transaction.atomic():
        locked = _locked(payment.pk)
        if not (locked.save_method and locked.is_booked and locked.saved_method_id is not None):
            return None
        if MethodDevice.objects.filter(payment=locked).exists():
            return None
        device = MethodDevice.objects.create(
            method_id=locked.saved_method_id, payment=locked, token_hash=token_digest(raw), label=label[:100]
        )
        record(
            "payments.remember_device",
            actor=actor,
            obj=device,
            territory=locked.territory,
            data={"payment": locked.pk, "method": locked.saved_method_id},
        )
    return raw


def touch_device(*, actor: Actor, device: MethodDevice) -> None:
    """Note when the device last gave (bookkeeping of the device row; the gift itself is audited)."""
    MethodDevice.objects.filter(pk=device.pk).update(last_used_at=timezone.now())


def revoke_device(*, actor: Actor, raw: str, reason: str = "not_me") -> bool:
    """ "Non sei tu?": the token stops working on the server, whoever still holds the cookie."""
    if not raw or len(raw) > 200:
        return False
    with transaction.atomic():
        device = (
            MethodDevice.objects.select_for_update()
            .filter(token_hash=token_digest(raw), revoked_at__isnull=True)
            .first()
        )
        if device is None:
            return False
        device.revoked_at = timezone.now()
        device.save(update_fields=["revoked_at"])
        record("payments.revoke_device", actor=actor, obj=device, data={"reason": reason[:60]})
    return True


def revoke_device_by_id(*, actor: Actor, device_id: int, reason: str = "owner") -> bool:
    """The owner of a saved method revokes one of the browsers allowed to use it, from a page
    where they proved who they are (Il mio spazio): the caller checks the method is theirs."""
    with transaction.atomic():
        device = MethodDevice.objects.select_for_update().filter(pk=device_id, revoked_at__isnull=True).first()
        if device is None:
            return False
        device.revoked_at = timezone.now()
        device.save(update_fields=["revoked_at"])
        record("payments.revoke_device", actor=actor, obj=device, data={"reason": reason[:60]})
    return True


def request_payer_link(*, actor: Actor, email: str) -> bool:
    """Email a one-time link to the payer page of `email`, if that address has payments.

    The caller answers the same whatever happens (the answer must not tell a stranger whether
    an address has given): the return value is for tests and the audit log only.
    """
    address = email.strip().lower()
    with transaction.atomic():
        if not address or not payer_has_payments(address):
            record("payments.request_payer_link", actor=actor, data={"sent": False})
            return False
        raw = secrets.token_urlsafe(32)
        now = timezone.now()
        link = PayerAccessLink.objects.create(
            email=address, token_hash=token_digest(raw), created_at=now, expires_at=now + PAYER_LINK_LIFETIME
        )
        record("payments.request_payer_link", actor=actor, obj=link, data={"sent": True})
        enqueue_on_commit(send_payer_link, link.pk, raw)
    return True


def _spend_link(*, raw: str, purpose: str) -> PayerAccessLink:
    """Spend a one-time link (inside the caller's transaction): single use even under
    concurrency (a conditional UPDATE); an expired, spent or unknown link is refused with a
    message saying what to do next (the refusal's audit entry is written outside the rollback)."""
    now = timezone.now()
    digest = token_digest(raw) if raw and len(raw) <= 200 else ""
    links = PayerAccessLink.objects.filter(token_hash=digest, purpose=purpose)
    if digest and links.filter(used_at__isnull=True, expires_at__gt=now).update(used_at=now):
        return links.get()
    link = links.first() if digest else None
    if link is not None and link.used_at is not None:
        message = _("Questo link è già stato usato: ogni link vale una volta sola. Chiedine uno nuovo.")
        code = "link_used"
    elif link is not None:
        message = _("Questo link è scaduto (vale 30 minuti): chiedine uno nuovo.")
        code = "link_expired"
    else:
        message, code = _("Questo link non è valido: chiedine uno nuovo."), "link_unknown"
    raise _LinkRefused(str(message), code)


class _LinkRefused(Exception):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message, self.code = message, code


def open_payer_link(*, actor: Actor, raw: str) -> str:
    """Spend an emailed payer-page link: the address whose payer page this browser may now see."""
    action = "payments.open_payer_link"
    try:
        with transaction.atomic():
            link = _spend_link(raw=raw, purpose=LinkPurpose.PAYER_PAGE)
            record(action, actor=actor, obj=link)
            return link.email
    except _LinkRefused as refused:
        refuse(action, refused.message, actor=actor, code=refused.code)
        raise AssertionError from refused  # unreachable: refuse() raises


def request_device_link(*, actor: Actor, email: str, next_path: str = "") -> bool:
    """Email a one-time link that lets the browser which opens it give in one click with the
    card saved by `email` — the donor proves control of the address instead of holding a
    device token. Only a card its owner once chose to remember qualifies (not one saved for a
    monthly gift alone). The caller answers the same whatever happens."""
    address = email.strip().lower()
    with transaction.atomic():
        method = (
            (
                SavedMethod.objects.filter(payer_email__iexact=address, devices__isnull=False)
                .distinct()
                .order_by("-created_at", "-pk")
                .first()
            )
            if address
            else None
        )
        if method is None:
            record("payments.request_device_link", actor=actor, data={"sent": False})
            return False
        raw = secrets.token_urlsafe(32)
        now = timezone.now()
        link = PayerAccessLink.objects.create(
            purpose=LinkPurpose.DEVICE,
            email=address,
            method=method,
            token_hash=token_digest(raw),
            created_at=now,
            expires_at=now + PAYER_LINK_LIFETIME,
            next_path=next_path[:200],
        )
        record("payments.request_device_link", actor=actor, obj=link, data={"sent": True, "method": method.pk})
        enqueue_on_commit(send_device_link, link.pk, raw)
    return True


def open_device_link(*, actor: Actor, raw: str, label: str = "") -> tuple[str, str]:
    """Spend an emailed device link: (the new device token for this browser's cookie, where to go)."""
    action = "payments.open_device_link"
    token = secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            link = _spend_link(raw=raw, purpose=LinkPurpose.DEVICE)
            assert link.method_id is not None
            device = MethodDevice.objects.create(
                method_id=link.method_id, link=link, token_hash=token_digest(token), label=label[:100]
            )
            record(
                "payments.remember_device",
                actor=actor,
                obj=device,
                data={"link": link.pk, "method": link.method_id, "via": "email_link"},
            )
            return token, link.next_path
    except _LinkRefused as refused:
        refuse(action, refused.message, actor=actor, code=refused.code)
        raise AssertionError from refused  # unreachable: refuse() raises
