"""ADR 0048 (issue 14, P4): the notice version a form showed is kept per process for less than the
grace period, and while it is kept it gives the answer a fresh read would give — also when a newer
version is published meanwhile (by another server), up to the moment the form must be refused.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from piazza.people import notices
from piazza.people.actions.notices import ensure_default_notices, publish_notice_version
from piazza.people.models import PrivacyNotice
from piazza.people.tests.notices import in_force
from piazza.privacy.tests.test_notices import NEW_BODY
from piazza.territory.models import Role
from piazza.territory.testing import make_official

pytestmark = [pytest.mark.django_db, pytest.mark.clock("2026-06-10 10:00")]


@pytest.fixture(autouse=True)
def _notices() -> None:
    ensure_default_notices()


def _fields(version: Any) -> dict[str, Any]:
    values = {f.attname: getattr(version, f.attname) for f in type(version)._meta.concrete_fields}
    return {**values, "superseded_at": version.superseded_at, "code": version.code}


def _answer(pk: Any) -> tuple[tuple[str, Any], int]:
    """check_shown's answer for `pk` and the statements it sent: ("ok", fields) or ("refused", code)."""
    with CaptureQueriesContext(connection) as captured:
        try:
            result: tuple[str, Any] = ("ok", _fields(notices.check_shown("donate", pk)))
        except ValidationError as exc:
            result = ("refused", exc.code)
    return result, len(captured.captured_queries)


def _fresh(pk: int) -> Any:
    """What a process that kept nothing answers (this process's kept copies left as they were)."""
    kept = dict(notices._shown_cache)
    notices.forget_shown_versions()
    answer = _answer(pk)[0]
    notices.forget_shown_versions()
    notices._shown_cache.update(kept)
    return answer


def _publish_v2(tree: Any) -> Any:
    officer = make_official("dpo.kept", tree.national, [Role.PRIVACY_OFFICER])
    return publish_notice_version(
        actor=officer,
        notice=PrivacyNotice.objects.get(key="donate"),
        language="it",
        label="2026.9",
        title="Informativa privacy per chi dona",
        body=NEW_BODY,
        changes="Nuova versione",
    )


def test_a_kept_version_answers_as_a_fresh_read_without_a_query(tree):
    pk = in_force("donate", "it").pk
    first, sent = _answer(pk)
    assert first[0] == "ok" and sent == 1
    again, sent = _answer(pk)
    assert (again, sent) == (first, 0)
    assert notices.check_shown("donate", pk) is not notices.check_shown("donate", pk)  # each caller's own copy
    assert _answer(str(pk))[0] == first  # the form's raw value
    # Another point of collection's key never gets this version, kept or not.
    with pytest.raises(ValidationError):
        notices.check_shown("join", pk)


def test_a_version_superseded_by_another_server_is_refused_when_a_fresh_read_would_refuse_it(tree, clock, settings):
    """The version is kept at 10:00; another server publishes a newer one at 10:01 (this process is
    not told). Until the grace period after the publication, both kept and fresh answers accept
    the form; after it, the kept copy has expired and the form is refused."""
    pk = in_force("donate", "it").pk
    assert _answer(pk)[0][0] == "ok"
    clock.tick(60)
    _publish_v2(tree)
    grace = dt.timedelta(hours=settings.PRIVACY_NOTICE_GRACE_HOURS)
    clock.tick((grace - notices.SHOWN_CACHE_MARGIN - dt.timedelta(minutes=2)).total_seconds())
    kept, sent = _answer(pk)
    assert sent == 0 and kept[0] == "ok"
    assert kept[1]["superseded_at"] is None  # as read at 10:00: the kept copy
    fresh = _fresh(pk)
    assert fresh[0] == "ok" and fresh[1]["superseded_at"] is not None  # accepted too: it knows the newer one
    clock.tick((notices.SHOWN_CACHE_MARGIN + dt.timedelta(minutes=3)).total_seconds())  # 1 min past the grace
    expired, sent = _answer(pk)
    assert expired == ("refused", "notice_outdated") and sent == 1
    assert _fresh(pk) == expired


def test_a_grace_period_shorter_than_the_margin_keeps_nothing(tree, settings):
    settings.PRIVACY_NOTICE_GRACE_HOURS = 1
    pk = in_force("donate", "it").pk
    assert _answer(pk)[1] == 1 and _answer(pk)[1] == 1


def test_a_missing_version_is_not_kept(tree):
    _answer(10**9)
    assert _answer(10**9) == (("refused", "notice_missing"), 1)
