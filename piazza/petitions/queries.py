"""Reads of petitions: the counter (sum of slots, convention 9) and its check."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Sum
from django.http import Http404

from piazza.petitions.models import Petition, PetitionCounter, Question, Signature

PUBLIC_CACHE_SECONDS = 60


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


def _public_key(slug: str) -> str:
    return f"petitions:public:{slug}"


def public_petition(slug: str) -> tuple[Petition, list[Question]]:
    """The petition of a public page with its questions, kept a minute in the shared cache: a viral
    petition is read thousands of times a minute and changes rarely (issue 15). Every change of
    what the page shows (open/closed, a question) calls `forget_public` (convention 1's actions)."""
    key = _public_key(slug)
    cached = cache.get(key)
    if cached is not None:
        return cached
    petition = Petition.objects.select_related("territory", "campaign").filter(slug=slug).first()
    if petition is None:
        raise Http404
    found = (petition, list(petition.questions.all()))
    cache.set(key, found, PUBLIC_CACHE_SECONDS)
    return found


def forget_public(petition: Petition) -> None:
    """Drop the cached public petition now and again after the commit (a reader in between may
    have cached the old state)."""
    key = _public_key(petition.slug)
    cache.delete(key)
    transaction.on_commit(lambda: cache.delete(key))
