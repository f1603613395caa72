"""Where webhook deliveries may go: public servers only (no server-side request forgery)."""

from __future__ import annotations

import ipaddress
import socket

from django.conf import settings
from django.utils.translation import gettext as _

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}


def address_problem(hostname: str) -> str | None:
    """Why deliveries may not go to `hostname`, or None (`checked_address`)."""
    return checked_address(hostname)[0]


def checked_address(hostname: str) -> tuple[str | None, str | None]:
    """(why deliveries may not go to `hostname`, the address to connect to).

    It must resolve to public addresses only, so that a webhook cannot be aimed at the party's own
    inside network (the database, the metrics, a router's admin page). Checked when the subscription
    is written and again before every delivery, and the delivery connects to the address checked
    (not to the name again: a name that changes its answer in between, DNS rebinding, gains nothing).
    Test and development machines may deliver to localhost (WEBHOOK_ALLOW_HTTP); an inside receiver
    needs WEBHOOK_ALLOW_PRIVATE_NETWORKS. With either, the name is used as is (address None)."""
    if getattr(settings, "WEBHOOK_ALLOW_PRIVATE_NETWORKS", False):
        return None, None
    if hostname in LOCAL_HOSTS and getattr(settings, "WEBHOOK_ALLOW_HTTP", False):
        return None, None
    try:
        found = sorted(
            {str(info[4][0]) for info in socket.getaddrinfo(hostname.strip("[]"), None, proto=socket.IPPROTO_TCP)}
        )
    except (OSError, UnicodeError):
        return _("Il nome %(host)s non corrisponde a nessun server: controlla di averlo scritto bene.") % {
            "host": hostname
        }, None
    for address in found:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not ip.is_global:
            return _(
                "%(host)s porta a un indirizzo della rete interna (%(ip)s): i webhook vanno solo a server "
                "raggiungibili da internet."
            ) % {"host": hostname, "ip": ip}, None
    return None, found[0]
