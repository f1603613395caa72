"""Reads of petitions: the counter (sum of slots, convention 9) and its check."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Sum

from piazza.petitions.models import Petition, PetitionCounter, Signature


@dataclass(frozen=True)
class Progress:
    count: int
    goal: int

    @property
    def percent(self) -> int:
        return min(100, (self.count * 100) // self.goal) if self.goal else 100


def signature_count(petition_id: int) -> int:
    """The public counter: the sum of the petition's slots (one cheap aggregate over 16 rows)."""
    total = PetitionCounter.objects.filter(petition_id=petition_id).aggregate(n=Sum("signatures"))["n"]
    return int(total or 0)


def progress(petition: Petition) -> Progress:
    return Progress(count=signature_count(petition.pk), goal=petition.goal)


def counter_drift() -> dict[int, tuple[int, int]]:
    """Petitions whose counter differs from their signatures: {id: (counter, signatures)}; {} when sound."""
    counted = dict(
        PetitionCounter.objects.values("petition_id").annotate(n=Sum("signatures")).values_list("petition_id", "n")
    )
    signed = dict(Signature.objects.values("petition_id").annotate(n=Count("id")).values_list("petition_id", "n"))
    return {
        pk: (int(counted.get(pk) or 0), int(signed.get(pk) or 0))
        for pk in set(counted) | set(signed)
        if int(counted.get(pk) or 0) != int(signed.get(pk) or 0)
    }
