"""Each app's demo content, in layer order. Apps add their own `demo.seed(...)` call here."""

from __future__ import annotations

from typing import Any


def seed_apps(*, people: int, stdout: Any) -> None:
    """Called by `seed_demo` after the tree and the demo officials exist."""
    return None
