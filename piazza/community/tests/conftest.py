from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

import pytest
from django.core import mail
from django.urls import reverse

from piazza.funding.models import Donation
from piazza.funding.tests.conftest import build_live_campaign
from piazza.funding.tests.flows import give
from piazza.people.models import Person
from piazza.territory.models import Role
from piazza.territory.testing import make_official

DONOR_EMAIL = "giulia.0@example.org"


@pytest.fixture
def campaign(tree: Any) -> Any:
    owner = make_official("tesoriere.centro", tree.bologna_centro, [Role.ORGANISATION, Role.TREASURY])
    approver = make_official("federazione.bo", tree.bologna, [Role.ORGANISATION, Role.TREASURY])
    return build_live_campaign(tree, owner, approver)


@pytest.fixture
def donor(campaign: Any, django_capture_on_commit_callbacks: Any) -> Person:
    """Giulia gave €25 once and €10 a month, paid with a sandbox card: her record exists because
    the money arrived (funding's find_or_create_person), with her address unverified."""
    with django_capture_on_commit_callbacks(execute=True):
        give(campaign, 2500)
        give(campaign, 1000, frequency="monthly")
    donation = Donation.objects.filter(person__isnull=False).first()
    assert donation is not None and donation.person is not None
    mail.outbox.clear()
    return donation.person


def ask_link(client: Any, email: str, capture: Any) -> Any:
    with capture(execute=True):
        return client.post(reverse("community:door"), {"email": email})


def emailed_link(to: str, pattern: str = r"http\S+/il-mio-spazio/accesso/\S+/") -> str:
    sent = [m for m in mail.outbox if m.to == [to]]
    assert sent, f"no email to {to}"
    found = re.search(pattern, str(sent[-1].body))
    assert found, sent[-1].body
    return urlparse(found.group(0)).path


def sign_in(client: Any, email: str, capture: Any) -> Any:
    ask_link(client, email, capture)
    response = client.post(emailed_link(email))
    assert response.status_code == 302 and response["Location"] == reverse("community:home")
    return response
