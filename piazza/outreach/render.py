"""Turning a broadcast into personalised messages (issue 15).

Officers write Markdown with a few merge fields (`{{ nome }}`, `{{ circolo }}`, `{{ totale_donato }}`):
a whitelist replaced by plain string substitution, never the Django template engine on user text.
The Markdown is converted and sanitised (nh3) once per broadcast and variant and poured into the
fixed layout compiled from MJML (`layout/broadcast.html`, see `layout_build`); each recipient then
costs one regular-expression pass over that prepared text (benchmark P9).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import make_msgid
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db.models import Q, Sum
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from piazza.core.money import format_eur
from piazza.funding.content import render_markdown
from piazza.funding.models import Donation, DonationStatus
from piazza.outreach.models import Broadcast, Delivery
from piazza.people.models import Person

MERGE_FIELDS: dict[str, Any] = {
    "nome": gettext_lazy("il nome della persona"),
    "circolo": gettext_lazy("il suo circolo"),
    "totale_donato": gettext_lazy("quanto ha donato in tutto"),
}
# Filled by the sender, never typed by officers.
_LINK_FIELDS = ("unsubscribe_url", "preferences_url")
TOKEN = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_SLOT = re.compile(r"\[\[([a-z_]+)\]\]")
_UNSUBSCRIBE_SALT = "piazza.outreach.unsubscribe"
# The fixed layout, compiled from layout/broadcast.mjml by `manage.py build_email_layout` (layout_build).
COMPILED = Path(__file__).resolve().parent / "layout" / "broadcast.html"


def unknown_fields(*texts: str) -> list[str]:
    """Merge fields an officer wrote that do not exist (in order, once each)."""
    seen: list[str] = []
    for text in texts:
        for name in TOKEN.findall(text or ""):
            if name not in MERGE_FIELDS and name not in seen:
                seen.append(name)
    # Braces left open or template tags would reach recipients verbatim: refuse them too.
    for text in texts:
        stripped = TOKEN.sub("", text or "")
        if "{{" in stripped or "{%" in stripped:
            seen.append(stripped[stripped.find("{") : stripped.find("{") + 12].strip())
    return seen


def body_html(text: str) -> str:
    """The same Markdown and sanitiser as campaign pages (funding.content)."""
    return render_markdown(text)


@lru_cache(maxsize=1)
def _layout() -> str:
    return COMPILED.read_text()


@dataclass(frozen=True)
class Prepared:
    """One broadcast variant, with `{{ field }}` tokens left for each recipient."""

    subject: str
    text: str
    html: str


def prepare(broadcast: Broadcast, variant: str = "") -> Prepared:
    subject = broadcast.subject_for(variant)
    sender = broadcast.territory.name
    footer = _(
        "Ricevi questa email da %(sender)s perché sei iscritto, sei un contatto regolare o hai dato il "
        "consenso alla comunicazione politica."
    ) % {"sender": sender}
    slots = {
        "subject": escape(subject),
        "preheader": escape(broadcast.preheader),
        "sender": escape(sender),
        "body": body_html(broadcast.body),
        "footer": escape(footer),
        "unsubscribe_url": "{{ unsubscribe_url }}",
        "unsubscribe_label": escape(_("Non voglio più ricevere queste email")),
        "preferences_url": "{{ preferences_url }}",
        "preferences_label": escape(_("Scegli che cosa ricevere")),
    }
    html = _SLOT.sub(lambda m: slots.get(m[1], ""), _layout())
    text = "\n\n".join(
        [
            broadcast.body.strip(),
            "—",
            footer,
            _("Per non ricevere più queste email: %(url)s") % {"url": "{{ unsubscribe_url }}"},
            _("Per scegliere che cosa ricevere: %(url)s") % {"url": "{{ preferences_url }}"},
        ]
    )
    return Prepared(subject=subject, text=text + "\n", html=html)


def personalise(prepared: Prepared, values: dict[str, str]) -> tuple[str, str, str]:
    """(subject, plain text, HTML) for one recipient: values are escaped in the HTML only."""
    raw = lambda m: values.get(m[1], "")  # noqa: E731
    safe = lambda m: escape(values.get(m[1], ""))  # noqa: E731
    return TOKEN.sub(raw, prepared.subject), TOKEN.sub(raw, prepared.text), TOKEN.sub(safe, prepared.html)


def absolute(path: str) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{path}"


def unsubscribe_token(broadcast_id: int, person_id: int) -> str:
    """Signed, per person per broadcast (RFC 8058 links must work without a session)."""
    return signing.Signer(salt=_UNSUBSCRIBE_SALT, sep=".").sign(f"{broadcast_id}-{person_id}")


def read_unsubscribe_token(token: str) -> tuple[int, int] | None:
    try:
        value = signing.Signer(salt=_UNSUBSCRIBE_SALT, sep=".").unsign(token)
        broadcast_id, person_id = value.split("-")
        return int(broadcast_id), int(person_id)
    except (signing.BadSignature, ValueError):
        return None


def link_values(broadcast_id: int, person_id: int) -> dict[str, str]:
    token = unsubscribe_token(broadcast_id, person_id)
    return {
        "unsubscribe_url": absolute(reverse("outreach:unsubscribe", args=[token])),
        "preferences_url": absolute(reverse("outreach:preferences", args=[token])),
    }


def merge_values(person_ids: Iterable[int]) -> dict[int, dict[str, str]]:
    """The merge fields of a batch of people: two queries whatever the batch size."""
    ids = list(person_ids)
    out: dict[int, dict[str, str]] = {}
    for pk, first_name, circolo, territory in Person.objects.filter(pk__in=ids).values_list(
        "pk", "first_name", "voting_circolo__name", "territory__name"
    ):
        out[pk] = {"nome": first_name, "circolo": circolo or territory, "totale_donato": format_eur(0)}
    totals = (
        Donation.objects.filter(Q(person_id__in=ids), status=DonationStatus.SUCCEEDED)
        .order_by()
        .values("person_id")
        .annotate(total=Sum("amount_cents"))
    )
    for row in totals:
        out[row["person_id"]]["totale_donato"] = format_eur(int(row["total"]))
    return out


def build_message(
    delivery: Delivery, prepared: Prepared, values: dict[str, str], *, to: str | None = None
) -> EmailMultiAlternatives:
    """One personalised message with RFC 8058 one-click unsubscribe headers."""
    links = link_values(delivery.broadcast_id, delivery.person_id)
    subject, text, html = personalise(prepared, {**values, **links})
    message_id = delivery.message_id or make_msgid(domain=settings.OUTREACH_MESSAGE_ID_DOMAIN)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.OUTREACH_FROM_EMAIL,
        to=[to or delivery.email],
        headers={
            "Message-ID": message_id,
            "List-Unsubscribe": f"<{links['unsubscribe_url']}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "X-Piazza-Delivery": str(delivery.pk or ""),
        },
    )
    message.attach_alternative(html, "text/html")
    return message
