"""Startup check (Django system checks): every channel of money in is counted toward F6/F14.

A payable kind registered with payments (`register_payable`) is money a person pays the party;
rules F6 and F14 add it to the donor's yearly total unless a contribution source counts it.
A new channel registered without a source would let its money escape the cap silently, so
`manage.py check` (and every deploy) fails until the app registers one — or declares with
`register_not_a_contribution` why it is not a contribution.
"""

from __future__ import annotations

from typing import Any

from django.core import checks

from piazza.compliance.rules import uncovered_payables
from piazza.payments.payables import registered_payables


def money_in_channels_have_sources(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Rules F6/F14: one error per payable kind that no contribution source totals."""
    return [
        checks.Error(
            f"Payable '{label}' takes money from persons but no F6/F14 contribution source counts it.",
            hint="Call compliance.rules.register_contribution_source(..., payables=[label]) in the app's ready().",
            id="compliance.E001",
            obj=label,
        )
        for label in uncovered_payables(registered_payables())
    ]
