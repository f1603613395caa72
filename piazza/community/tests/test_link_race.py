"""PostgreSQL, real connections in threads: a sign-in link opened at the same instant from
several browsers opens exactly one session (the conditional UPDATE, convention 16)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from piazza.community import actions, links
from piazza.core.models import AuditEntry
from piazza.core.testing_threads import run_in_threads
from piazza.people.models import Email, Person

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_link_opened_eight_times_at_once_signs_in_once(tree):
    person = Person.objects.create(first_name="Anna", last_name="Verdi", territory=tree.bologna_centro)
    Email.objects.create(person=person, value="anna@example.org", primary=True)
    assert links.issue_sign_in_link(email="anna@example.org")
    found = re.search(r"/il-mio-spazio/accesso/([^/\s]+)/", str(mail.outbox[-1].body))
    assert found
    raw = found.group(1)
    opened: list[int] = []

    def open_link() -> None:
        with contextlib.suppress(ValidationError):
            opened.append(int(actions.open_sign_in_link(actor=None, raw=raw).pk))

    jobs: list[Callable[[], Any]] = [open_link for _i in range(8)]
    assert run_in_threads(jobs) == []
    assert opened == [person.pk]
    assert AuditEntry.objects.filter(action="community.sign_in", kind="auth").count() == 1
    assert AuditEntry.objects.filter(action="community.sign_in", kind="denied").count() == 7
