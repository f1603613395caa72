"""A gift as a contribution line (rules F1/F3/F7/F13), shared by the line sources and the success step.

Its own small module: `payable` (the sources) imports the actions, and `actions.donations` builds the
line of the gift it has just accepted from the row it read under the lock (issue 14, P4).
"""

from __future__ import annotations

import datetime as dt

from piazza.compliance.contributions import ContributionLine
from piazza.funding.models import Donation
from piazza.payments.methods import method_kind


def gift_line(
    *,
    pk: int,
    person_id: int | None,
    territory_id: int,
    territory_path: str,
    amount_cents: int,
    fee_cover_cents: int,
    received_at: dt.datetime,
    provider: str,
    title: str,
    legal_name: str | None,
    entity_code: str | None,
    resolution_on: dt.date | None,
) -> ContributionLine:
    """One kept gift: fee cover included (as F6 counts it), the legal person if any (F13)."""
    return ContributionLine(
        source="funding.donation",
        source_id=pk,
        person_id=person_id,
        kind="donation",
        territory_id=territory_id,
        territory_path=territory_path,
        amount_cents=int(amount_cents) + int(fee_cover_cents),
        received_at=received_at,
        method=method_kind(provider) if provider else "card",
        purpose=f"Erogazione liberale – «{title}»"[:200],
        legal_name=legal_name or "",
        entity_code=entity_code or "",
        resolution_on=resolution_on,
    )


def donation_line(
    donation: Donation, *, provider: str, legal_name: str, entity_code: str, resolution_on: dt.date | None
) -> ContributionLine:
    """The line of a donation just accepted, from the row its success step read (with the campaign
    and its territory): the same line `payable.donation_row_lines` would read again."""
    assert donation.succeeded_at is not None
    territory = donation.campaign.territory
    return gift_line(
        pk=int(donation.pk),
        person_id=donation.person_id,
        territory_id=int(territory.pk),
        territory_path=territory.path,
        amount_cents=donation.amount_cents,
        fee_cover_cents=donation.fee_cover_cents,
        received_at=donation.succeeded_at,
        provider=provider,
        title=donation.campaign.title,
        legal_name=legal_name,
        entity_code=entity_code,
        resolution_on=resolution_on,
    )
