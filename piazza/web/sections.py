"""Extension points of the back office: each app adds one line here, nothing else in web changes.

A dashboard section is a function `section(user) -> (template_name, context) | None` living
in the app's `queries.py`; it returns None when the user has no role that sees it.
A navigation entry is (label, url name, roles allowed or None for any official).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from piazza.territory.models import MANAGER_ROLES
from piazza.territory.scoping import scope_paths

DASHBOARD_SECTIONS: list[str] = [
    "piazza.funding.queries.dashboard_section",
    "piazza.people.queries.dashboard_section",
    "piazza.payments.bank.queries.dashboard_section",
    "piazza.payments.queries.dashboard_section",
    "piazza.membership.queries.dashboard_section",
    "piazza.privacy.queries.dashboard_section",
    "piazza.outreach.queries.dashboard_section",
]

NAVIGATION: list[tuple[Any, str, set[str] | None]] = [
    (_("Raccolte fondi"), "funding:manage_list", {"organisation", "treasury", "communication", "administrator"}),
    (_("Registro attività"), "web:audit_log", {*MANAGER_ROLES, "treasury"}),
    (_("Persone"), "people:list", {"organisation", "membership", "communication", "administrator"}),
    (_("Banca"), "bank:overview", {"treasury"}),
    (_("Pagamenti"), "payments:treasury_payments", {"treasury"}),
    (_("Tesseramento"), "membership:overview", {"membership", "organisation", "guarantee", "administrator"}),
    (_("Candidature"), "compliance:candidacies", {"organisation", "treasury", "administrator"}),
    (_("Registro dei contributi"), "compliance:register_board", {"treasury", "administrator"}),
    (_("Ricevute"), "compliance:receipts", {"treasury", "administrator"}),
    (_("Dichiarazioni per la detrazione"), "compliance:tax_statements", {"treasury", "administrator"}),
    (_("2×1000"), "compliance:two_per_thousand", {"treasury", "administrator"}),
    (_("Richieste privacy"), "privacy:board", {"privacy_officer"}),
    (_("Petizioni"), "petitions:manage_list", {"communication", "organisation", "administrator"}),
    (_("Volontari"), "volunteers:manage", {"organisation", "communication", "administrator"}),
    (_("Comunicazioni email"), "outreach:list", {"communication", "administrator"}),
    (_("Eventi"), "events:manage_list", {"organisation", "communication", "administrator"}),
    (_("Chiavi API"), "api:keys", None),
    (_("Webhook"), "api:webhooks", None),
]


def dashboard_sections(user: Any) -> list[tuple[str, dict[str, Any]]]:
    rendered = []
    for dotted in DASHBOARD_SECTIONS:
        section: Callable[[Any], tuple[str, dict[str, Any]] | None] = import_string(dotted)
        result = section(user)
        if result is not None:
            rendered.append(result)
    return rendered


def navigation(user: Any) -> list[tuple[Any, str]]:
    return [(label, name) for label, name, roles in NAVIGATION if scope_paths(user, roles)]
