"""Where a write comes from (IP, user agent) for the audit log, set once per request.

This is metadata only: scope is never read from here (ARCHITECTURE convention 11).
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Origin:
    ip: str = ""
    user_agent: str = ""
    channel: str = "system"  # web, api, admin, command, task, system


_NO_ORIGIN = Origin()
_origin: ContextVar[Origin | None] = ContextVar("piazza_origin", default=None)


def current_origin() -> Origin:
    return _origin.get() or _NO_ORIGIN


def set_origin(origin: Origin) -> object:
    return _origin.set(origin)


def reset_origin(token: object) -> None:
    _origin.reset(token)  # type: ignore[arg-type]
