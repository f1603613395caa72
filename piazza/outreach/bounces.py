"""Bounce messages of plain SMTP (RFC 3464 delivery status notifications), parsed with the stdlib
`email` package, from a Maildir the bounce address delivers into.

A DSN is `multipart/report; report-type=delivery-status`: its `message/delivery-status` part has one
block per recipient with `Final-Recipient`, `Action` (failed, delayed, delivered…) and `Status`
(5.x.x permanent, 4.x.x temporary). The returned original (`message/rfc822` or
`text/rfc822-headers`) carries our `Message-ID` and `X-Piazza-Delivery`, which link it to the delivery.
"""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Bounce:
    recipient: str
    action: str
    status: str
    message_id: str
    diagnostic: str
    dsn_id: str

    @property
    def permanent(self) -> bool:
        return self.action == "failed" and self.status.startswith("5")


def _address(value: str) -> str:
    # "rfc822; someone@example.org"
    return value.split(";", 1)[-1].strip().strip("<>")


def _status_blocks(part: Message) -> list[Message]:
    payload = part.get_payload()
    return [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []


def _original_headers(message: Message) -> Message | None:
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner:
                first = inner[0]
                return first if isinstance(first, Message) else None
        if kind == "text/rfc822-headers":
            raw = part.get_payload(decode=True)
            return message_from_bytes(raw if isinstance(raw, bytes) else b"", policy=policy.compat32)
    return None


def parse_dsn(raw: bytes) -> list[Bounce]:
    """The recipients a DSN reports on; an ordinary message (an auto-reply) gives none."""
    message = message_from_bytes(raw, policy=policy.compat32)
    if message.get_content_type() != "multipart/report" or message.get_param("report-type") != "delivery-status":
        return []
    original = _original_headers(message)
    message_id = str(original.get("Message-ID", "")).strip() if original is not None else ""
    dsn_id = str(message.get("Message-ID", "")).strip()
    out: list[Bounce] = []
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        for block in _status_blocks(part)[1:]:  # the first block is per message, then per recipient
            recipient = _address(str(block.get("Final-Recipient", "") or block.get("Original-Recipient", "")))
            if not recipient:
                continue
            out.append(
                Bounce(
                    recipient=recipient.lower(),
                    action=str(block.get("Action", "")).strip().lower(),
                    status=str(block.get("Status", "")).strip(),
                    message_id=message_id,
                    diagnostic=str(block.get("Diagnostic-Code", "")).strip()[:300],
                    dsn_id=dsn_id or f"{message_id}:{recipient}",
                )
            )
    return out


def read_maildir(path: str | Path) -> Iterator[tuple[str, bytes]]:
    """(key, raw bytes) of each message waiting in a Maildir's new/ and cur/ folders."""
    box = mailbox.Maildir(str(path), factory=None, create=False)
    for key in list(box.keys()):
        yield key, box.get_bytes(key)


def remove(path: str | Path, key: str) -> None:
    mailbox.Maildir(str(path), factory=None, create=False).discard(key)


def as_email(raw: bytes) -> EmailMessage | Any:
    return message_from_bytes(raw, policy=policy.default)
