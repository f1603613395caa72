"""Words stored now, read later in the reader's language (issue 11 item 18).

Anomaly summaries and timeline events are written once, in whatever language the writing process
has, and read for years by officials who may read the site in English. A `Deferred` message is
rendered now like `gettext(msgid) % params` and also remembers its msgid and parameters; the
stored copy (`.stored()`, plain JSON) is rendered again in the reader's language by `render()`.
Mark the msgid with `gettext_noop(...)` at the call site so makemessages finds it.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext


def _plain(value: Any) -> Any:
    return value if isinstance(value, int | float | str) and not isinstance(value, bool) else str(value)


class Deferred(str):
    msgid: str
    params: dict[str, Any]

    def __new__(cls, msgid: str, params: dict[str, Any] | None = None) -> Deferred:
        plain = {key: _plain(value) for key, value in (params or {}).items()}
        text = gettext(msgid) % plain if plain else gettext(msgid)
        obj = super().__new__(cls, text)
        obj.msgid, obj.params = msgid, plain
        return obj

    def stored(self) -> dict[str, Any]:
        return {"msgid": self.msgid, "params": self.params}


def deferred(msgid: str, **params: Any) -> Deferred:
    return Deferred(msgid, params)


def stored_form(text: str) -> dict[str, Any] | None:
    """What to store next to `text` so it can be read again in another language (None: plain text)."""
    return text.stored() if isinstance(text, Deferred) else None


def render(stored: Any, fallback: str) -> str:
    """A stored message in the active language; the text written at the time if it cannot be."""
    if not isinstance(stored, dict) or not isinstance(stored.get("msgid"), str):
        return fallback
    params = stored.get("params") or {}
    try:
        return gettext(stored["msgid"]) % params if params else gettext(stored["msgid"])
    except (KeyError, TypeError, ValueError):
        return fallback
