"""The donor takes their name off a campaign's page (rule G1, issue 17): the wall, the founders
and the monthly streaks all read the same choice, so one switch removes it everywhere."""

from __future__ import annotations

from django.db import transaction

from piazza.core.audit import record
from piazza.funding.models import Campaign, Donation
from piazza.funding.recognition import forget_cached
from piazza.people.models import Person


def hide_name(*, person: Person, campaign: Campaign, via: str) -> int:
    """Every gift of the person to the campaign stops showing their name; returns how many changed.
    The person acts for themselves (actor None, the person as object)."""
    with transaction.atomic():
        changed = Donation.objects.filter(person=person, campaign=campaign, on_wall=True).update(on_wall=False)
        if changed:
            record(
                "funding.hide_name",
                actor=None,
                obj=person,
                territory=campaign.territory,
                data={"via": via, "campaign": campaign.pk, "donations": changed},
            )
        transaction.on_commit(lambda: forget_cached(campaign.pk))
    return changed
