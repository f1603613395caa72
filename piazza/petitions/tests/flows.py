"""Helpers of the petitions tests: a filled signature form, posted after the minimum fill time."""

from __future__ import annotations

from typing import Any

from django.test import Client, TestCase
from django.urls import reverse

from piazza.people.notices import current_version
from piazza.petitions.forms import started_token
from piazza.petitions.models import Petition


def form_data(petition: Petition, **overrides: Any) -> dict[str, Any]:
    notice = current_version(petition.notice_key)
    data: dict[str, Any] = {
        "first_name": "Giulia",
        "last_name": "Bianchi",
        "email": "giulia.bianchi@example.org",
        "comune": "Bologna",
        "postal_code": "40121",
        "phone": "",
        "started": started_token(petition),
        "website": "",
        "notice_version": str(notice.pk) if notice else "",
    }
    data.update(overrides)
    return data


def sign(
    client: Client, petition: Petition, clock: Any, *, wait: Any = 10, embed: Any = False, **overrides: Any
) -> Any:
    """Show the form (its signed start time), let `wait` seconds pass on the frozen clock, send;
    the signature's task (enqueued on commit) runs as it would after a real commit."""
    data = form_data(petition, **overrides)
    clock.tick(wait)
    name = "petitions:embed" if embed else "petitions:public"
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(reverse(name, args=[petition.slug]), data)
