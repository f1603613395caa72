"""Test helper: the hidden field a form page carries with the privacy notice it shows."""

from __future__ import annotations

from piazza.people.models import NoticeVersion
from piazza.people.notices import FIELD, current_version


def shown(key: str) -> dict[str, str]:
    """{"notice_version": <id>} of the Italian version in force of `key`'s notice, as the page posts it."""
    version = current_version(key, "it")
    assert version is not None, f"no privacy notice published for {key}"
    return {FIELD: str(version.pk)}


def in_force(key: str, language: str = "it") -> NoticeVersion:
    """The version in force of `key`'s notice (published, never None in a test)."""
    version = current_version(key, language)
    assert version is not None, f"no privacy notice published for {key}"
    return version
