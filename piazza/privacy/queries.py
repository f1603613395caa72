"""Reads of the data-rights block that are more than one line."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from piazza.privacy.models import DataRequest
from piazza.privacy.requests import can_see_board


def dashboard_section(user: Any) -> tuple[str, dict[str, Any]] | None:
    """The privacy officer's box on the back-office dashboard: pending and overdue requests (G5)."""
    if not can_see_board(user):
        return None
    pending = DataRequest.objects.open()
    return "privacy/_dashboard.html", {
        "pending_count": pending.count(),
        "overdue_count": pending.filter(due_on__lt=timezone.localdate()).count(),
    }
