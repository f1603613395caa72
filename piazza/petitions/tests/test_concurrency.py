"""PostgreSQL, real connections in threads: a viral petition (convention 9) — many people sign at
once, the same person twice at once; the counter always equals the signatures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from piazza.core.testing_threads import run_in_threads
from piazza.people.actions.notices import ensure_default_notices
from piazza.petitions import actions, queries
from piazza.petitions.models import Signature
from piazza.territory.models import Comune

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _data(n: int, comune: Comune) -> actions.SignatureInput:
    return actions.SignatureInput(
        first_name=f"Nome{n}",
        last_name=f"Cognome{n}",
        email=f"firma{n}@example.org",
        comune=comune,
        postal_code="40121",
    )


def test_many_simultaneous_signatures_keep_the_counter_exact(petition):
    ensure_default_notices()  # a transactional test before may have emptied the shipped notices
    bologna = Comune.objects.get(name="Bologna")
    jobs: list[Callable[[], Any]] = [
        lambda n=n: actions.sign_petition(actor=None, petition=petition, data=_data(n, bologna))  # type: ignore[misc]
        for n in range(24)
    ]
    assert run_in_threads(jobs) == []
    assert Signature.objects.filter(petition=petition).count() == 24
    assert queries.signature_count(petition.pk) == 24
    assert queries.counter_drift() == {}


def test_the_same_person_signing_twice_at_once_counts_once(petition):
    ensure_default_notices()  # a transactional test before may have emptied the shipped notices
    bologna = Comune.objects.get(name="Bologna")
    first = actions.sign_petition(actor=None, petition=petition, data=_data(0, bologna))
    outcomes: list[actions.SignOutcome] = []
    jobs: list[Callable[[], Any]] = [
        lambda: outcomes.append(actions.sign_petition(actor=None, petition=petition, data=_data(0, bologna)))
        for _ in range(6)
    ]
    assert run_in_threads(jobs) == []
    assert [o.created for o in outcomes] == [False] * 6
    assert {o.signature.pk for o in outcomes} == {first.signature.pk}
    assert queries.signature_count(petition.pk) == 1 == Signature.objects.count()
