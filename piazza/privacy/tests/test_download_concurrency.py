"""Rule G5 / convention 16, on PostgreSQL with real threads: eight simultaneous clicks on one
download link hand the data over once; the others are told the link is spent."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from piazza.core.testing_threads import run_in_threads
from piazza.people.models import Email, Person
from piazza.privacy import requests as actions
from piazza.privacy.models import DataExport, ExportState
from piazza.privacy.production import link_digest, produce_export

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_eight_parallel_downloads_of_one_link_hand_the_data_over_once(tree, monkeypatch):
    assert connection.vendor == "postgresql"
    person = Person.objects.create(
        first_name="Anna", last_name="Verdi", territory=tree.bologna, birth_date=dt.date(1990, 5, 4)
    )
    Email.objects.create(person=person, value="anna@example.org", primary=True)
    raw = "a-known-token-for-the-race-0123456789abcdef"
    monkeypatch.setattr("piazza.privacy.production.secrets.token_urlsafe", lambda n: raw)
    # Autocommit: the queue (run inline in tests) produces the export as soon as the request commits.
    request = actions._start_export(
        actor=None, person=person, email="anna@example.org", channel="online", received_on=dt.date(2026, 6, 10)
    )
    export = DataExport.objects.get(request=request)
    assert produce_export(export_id=export.pk) == ExportState.READY  # idempotent: already produced
    assert DataExport.objects.get(pk=export.pk).link_hash == link_digest(raw)
    url = reverse("privacy:download_export", args=[raw])
    statuses: list[int] = []

    def click() -> None:
        statuses.append(Client().post(url).status_code)

    assert run_in_threads([click for _ in range(8)]) == []
    assert sorted(statuses) == [200] + [410] * 7
    assert DataExport.objects.get(pk=export.pk).state == ExportState.DOWNLOADED
