"""Issue 11 item 18: timeline events and anomaly texts are stored once and read in the reader's
language: the words of the time stay in `summary`, the message id and its parameters beside them."""

import pytest
from django.utils import translation

from piazza.core.i18n import deferred, render
from piazza.people.actions.person import add_timeline_entry
from piazza.people.models import Person, TimelineEntry

pytestmark = pytest.mark.django_db

MSGID = "Etichette: %(tags)s"


def test_a_deferred_message_is_rendered_again_in_the_active_language(monkeypatch):
    said = deferred(MSGID, tags="volontari")
    assert said == "Etichette: volontari" and said.stored() == {"msgid": MSGID, "params": {"tags": "volontari"}}
    monkeypatch.setattr("piazza.core.i18n.gettext", lambda m: "Tags: %(tags)s" if m == MSGID else m)
    assert render(said.stored(), "fallback") == "Tags: volontari"
    assert render(None, "fallback") == "fallback"
    assert render({"msgid": "%(missing)s", "params": {}}, "fallback") == "%(missing)s"
    assert render({"msgid": "%(missing)s", "params": {"x": 1}}, "fallback") == "fallback"


def test_a_timeline_entry_reads_in_english_for_an_english_reader(tree, monkeypatch):
    person = Person.objects.create(first_name="Anna", last_name="Bianchi", territory=tree.bologna_centro)
    add_timeline_entry(person, kind="tags", actor=None, summary=deferred(MSGID, tags="volontari"))
    entry = TimelineEntry.objects.get(person=person, kind="tags")
    assert entry.summary == "Etichette: volontari"  # the words of the time, for search and exports
    english = {MSGID: "Tags: %(tags)s"}
    monkeypatch.setattr(
        "piazza.core.i18n.gettext", lambda m: english.get(m, m) if translation.get_language() == "en" else m
    )
    with translation.override("en"):
        assert entry.display_summary == "Tags: volontari"
    with translation.override("it"):
        assert entry.display_summary == "Etichette: volontari"
    plain = add_timeline_entry(person, kind="note", actor=None, summary="Testo libero")
    assert plain.display_summary == "Testo libero" and "_summary" not in plain.data
