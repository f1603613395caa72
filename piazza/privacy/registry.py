"""The data-handler registry (rule G5, docs/adr/0016): what every app holds about a person.

Like pretix's shredders and Saleor's plugin points, each app that stores personal data keeps
a `personal_data` module next to its models (the lower app never imports privacy):

    SECTION = "funding"                                     # the name of its part of the export
    PERSONAL_FIELDS = {Donation: ["first_name", ...]}       # models and columns holding personal data
    NOT_PERSONAL = {Model: "reason"}                        # optional: points at a person, holds nothing
    def export(person) -> {"funding.donation": [{...}]}     # every row about the person, by model label

The registry below is the one list of those modules; `tests/test_data_handlers.py` (privacy)
fails when a model pointing at a person is covered by none of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import import_module
from types import ModuleType
from typing import Any

from django.apps import apps
from django.db import models

from piazza.community import personal_data as community_data
from piazza.compliance import personal_data as compliance_data
from piazza.core import personal_data as core_data
from piazza.events import personal_data as events_data
from piazza.funding import personal_data as funding_data
from piazza.membership import personal_data as membership_data
from piazza.outreach import personal_data as outreach_data
from piazza.payments import personal_data as payments_data
from piazza.payments.bank import personal_data as bank_data
from piazza.people import personal_data as people_data
from piazza.petitions import personal_data as petitions_data
from piazza.privacy import personal_data as privacy_data
from piazza.volunteers import personal_data as volunteers_data

# Order of the export: the person first, the audit entries about everything else last.
HANDLER_MODULES: tuple[ModuleType, ...] = (
    people_data,
    membership_data,
    funding_data,
    payments_data,
    bank_data,
    compliance_data,
    community_data,
    petitions_data,
    volunteers_data,
    outreach_data,
    events_data,
    privacy_data,
    core_data,
)


@dataclass(frozen=True)
class Handler:
    section: str
    module: ModuleType

    @property
    def personal_models(self) -> dict[type[models.Model], list[str]]:
        return dict(getattr(self.module, "PERSONAL_FIELDS", {}))

    @property
    def not_personal(self) -> dict[type[models.Model], str]:
        return dict(getattr(self.module, "NOT_PERSONAL", {}))


def _upper_app_modules() -> list[ModuleType]:
    """`personal_data` modules of apps above privacy (the API's webhook deliveries), found by app name:
    privacy may not import them, yet what they hold about a person is exported like the rest."""
    known = {module.__name__ for module in HANDLER_MODULES}
    found = []
    for config in apps.get_app_configs():
        name = f"{config.name}.personal_data"
        if not config.name.startswith("piazza.") or name in known:
            continue
        try:
            found.append(import_module(name))
        except ModuleNotFoundError:
            continue
    return found


def handlers() -> list[Handler]:
    modules = (*HANDLER_MODULES[:-1], *_upper_app_modules(), HANDLER_MODULES[-1])  # the audit entries last
    return [Handler(section=module.SECTION, module=module) for module in modules]


def personal_models() -> dict[type[models.Model], list[str]]:
    declared: dict[type[models.Model], list[str]] = {}
    for handler in handlers():
        declared.update(handler.personal_models)
    return declared


def covered_models() -> set[type[models.Model]]:
    covered = set(personal_models())
    for handler in handlers():
        covered |= set(handler.not_personal)
    return covered


def models_pointing_at_person(candidates: Iterable[type[models.Model]] | None = None) -> Iterator[type[models.Model]]:
    """Concrete models with a foreign key, one-to-one or many-to-many to people.Person (and Person)."""
    person = apps.get_model("people", "Person")
    for model in candidates if candidates is not None else apps.get_models():
        if model is person or any(
            field.is_relation and field.concrete and field.related_model is person for field in model._meta.get_fields()
        ):
            yield model


def uncovered_models(candidates: Iterable[type[models.Model]] | None = None) -> list[str]:
    """Models pointing at a person that no handler declares (personal or not, with a reason)."""
    covered = covered_models()
    return sorted(m._meta.label_lower for m in models_pointing_at_person(candidates) if m not in covered)


def _references(sections: dict[str, dict[str, list[dict[str, Any]]]]) -> list[tuple[str, Any]]:
    return [
        (label, row["id"])
        for tables in sections.values()
        for label, rows in tables.items()
        for row in rows
        if "id" in row
    ]


def collect(person: Any) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Every handler's section for `person`: {section: {model label: [rows]}}."""
    sections: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for handler in handlers():
        if handler.module is core_data:  # the audit entries about every row the others exported
            sections[handler.section] = core_data.export(person, related=_references(sections))
        else:
            sections[handler.section] = handler.module.export(person)
    return sections
