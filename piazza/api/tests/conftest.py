from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import timezone

from piazza.api.actions import create_api_key
from piazza.api.models import ApiKey, Permission
from piazza.people.models import Email, Person
from piazza.territory.models import Territory


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    cache.clear()


@pytest.fixture
def make_key() -> Callable[..., tuple[ApiKey, str]]:
    def make(owner: Any, territory: Territory, permissions: list[str] | None = None) -> tuple[ApiKey, str]:
        return create_api_key(
            actor=owner,
            territory=territory,
            name=f"chiave {territory.name}",
            permissions=permissions or [Permission.READ_PEOPLE],
            expires_on=timezone.localdate() + dt.timedelta(days=30),
        )

    return make


def make_person(territory: Territory, first: str, last: str, email: str = "") -> Person:
    person = Person.objects.create(first_name=first, last_name=last, territory=territory)
    if email:
        Email.objects.create(person=person, value=email, primary=True)
    return person


def osdi(client: Any, token: str, path: str, **extra: Any) -> Any:
    return client.get(f"/api/v1{path}", HTTP_OSDI_API_TOKEN=token, **extra)
