"""Each app's demo content, in layer order: each app adds its `demo.seed` dotted path here."""

from __future__ import annotations

from typing import Any

from django.utils.module_loading import import_string

# Each entry: a function seed(*, people: int, stdout) -> None in the app's demo.py.
DEMO_SEEDERS: list[str] = [
    "piazza.people.demo.seed",
    "piazza.membership.demo.seed",
    "piazza.payments.bank.demo.seed",
    "piazza.compliance.demo.seed",
    "piazza.funding.demo.seed",
    "piazza.compliance.register.demo.seed",  # after funding: the register reads its donations
    "piazza.compliance.tax_statements.demo.seed",  # after funding: statements of the demo gifts
]


def seed_apps(*, people: int, stdout: Any) -> None:
    """Called by `seed_demo` after the tree and the demo officials exist."""
    for dotted in DEMO_SEEDERS:
        import_string(dotted)(people=people, stdout=stdout)
