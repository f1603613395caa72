"""A real local SMTP server for tests and the demo (aiosmtpd), never a mock (issue 15).

`LocalSMTP` runs aiosmtpd in a thread on a free port and keeps what arrives; a rule table can
answer chosen recipients with a temporary (4xx) or permanent (5xx) refusal, once or always.
"""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Arrived:
    sender: str
    recipients: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)  # type: ignore[return-value]


@dataclass
class Handler:
    arrived: list[Arrived] = field(default_factory=list)
    # address → [reply, remaining times (None = always)]
    refusals: dict[str, list[Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        with self.lock:
            rule = self.refusals.get(address.lower())
            if rule is not None and (rule[1] is None or rule[1] > 0):
                if rule[1] is not None:
                    rule[1] -= 1
                return str(rule[0])
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.arrived.append(Arrived(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 Message accepted for delivery"


class LocalSMTP:
    def __init__(self) -> None:
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        self.handler = Handler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def start(self) -> LocalSMTP:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def arrived(self) -> list[Arrived]:
        with self.handler.lock:
            return list(self.handler.arrived)

    def to(self, address: str) -> list[Arrived]:
        return [a for a in self.arrived if address in a.recipients]

    def refuse(self, address: str, reply: str, times: int | None = None) -> None:
        with self.handler.lock:
            self.handler.refusals[address.lower()] = [reply, times]

    def clear(self) -> None:
        with self.handler.lock:
            self.handler.arrived.clear()
