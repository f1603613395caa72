from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from piazza.territory.models import Territory
from piazza.territory.scoping import scope_paths


def piazza(request: HttpRequest) -> dict[str, Any]:
    """The territories an official acts for, shown in every back-office header."""
    user: Any = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    cache: dict[str, list[Territory]] = {}

    def territories() -> list[Territory]:
        """Read once per page, however many times the templates ask (header, footer)."""
        if "scope" not in cache:
            cache["scope"] = list(Territory.objects.filter(path__in=scope_paths(user)))
        return cache["scope"]

    def nav() -> list[tuple[Any, str]]:
        from piazza.web.sections import navigation

        return navigation(user)

    return {"scope_territories": territories, "back_office_nav": nav}
