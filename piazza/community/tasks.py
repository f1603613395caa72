"""Background work of Il mio spazio: thin, idempotent enough (a repeated run sends one more link)."""

from __future__ import annotations

from django_tasks import task

from piazza.community import links


@task()
def issue_sign_in_link(email: str) -> bool:
    return links.issue_sign_in_link(email=email)
