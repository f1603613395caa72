"""What an imported row becomes besides a person (issue 11, item 13).

The people app imports people; a higher app that wants the rows to become something of its own
(membership: "members of year Y") registers a target here at start-up (AppConfig.ready), as it
registers relations in `queries.register_relation`. The people app never imports the higher
app: the wizard lists the registered targets, asks for their options with the target's own
form, and calls the target for each row once its person is created or matched. The target
writes through its own actions, so its rules are the same as in its own forms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from django import forms


@dataclass
class RowContext:
    """One imported row as the target sees it: the person on record and what the row said."""

    number: int
    person: Any  # people.Person, created or matched by the import
    emails: list[str]
    phones: list[str]


@dataclass
class RowOutcome:
    outcome: str  # a models.TargetOutcome value
    note: str  # in words, for the report


class ImportTarget(Protocol):
    key: str
    label: Any  # shown on the wizard's target step

    def options_form(self, data: Any, *, actor: Any, batch: Any, prefix: str) -> forms.Form:
        """The target's options (year, circolo…), limited to the actor's scope."""

    def check_options(self, form: forms.Form, *, actor: Any, batch: Any) -> dict[str, Any]:
        """JSON-able options from a valid form; refuses (audited ValidationError) what cannot run."""

    def actor_problem(self, actor: Any, options: dict[str, Any]) -> str:
        """Why this official may not run the target with these options ("" if they may): the
        one who runs the import or resolves a held row may not be the one who chose them."""

    def describe(self, options: dict[str, Any]) -> str:
        """The options in words, for the preview and the report."""

    def apply_row(self, row: RowContext, *, actor: Any, batch: Any, options: dict[str, Any]) -> RowOutcome:
        """Do the target's work for one row (its own actions, its own transaction)."""


TARGETS: dict[str, ImportTarget] = {}


def register_target(target: ImportTarget) -> None:
    TARGETS[target.key] = target


def get_target(key: str) -> ImportTarget | None:
    return TARGETS.get(key) if key else None
