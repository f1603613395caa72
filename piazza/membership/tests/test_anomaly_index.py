"""Issue 11 item 18: the anomaly index is a table with counts, most urgent federation first; the
report lists the most serious flags first, each review form with its own labelled fields and no
pre-chosen outcome."""

import re

import pytest
from django.urls import reverse

from piazza.membership.actions import review as review_actions
from piazza.membership.models import AnomalyFlag, FlagKind, Membership, MembershipRules, Objection
from piazza.people.models import Email
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

from .conftest import YEAR, join, paid

pytestmark = pytest.mark.usefixtures("schedule")


def _flags(tree):
    for _ in range(3):
        paid(tree, fingerprint="card-1")
    # The federation then lowers its limit to 2 (M24): three cards on one instrument are beyond it.
    MembershipRules.objects.create(territory=tree.bologna, max_per_instrument=2)
    people = [join(tree).person for _ in range(3)]
    for p in people:
        Email.objects.filter(person=p).update(value="stessa@example.org")  # severity 1
    review_actions.detect_anomalies(actor=None, federation=tree.bologna, year=YEAR)


def test_the_report_puts_serious_flags_first_with_one_labelled_form_each(tree):
    _flags(tree)
    commission = make_official("garanzia.bo", tree.bologna, [Role.GUARANTEE])
    page = (
        verified_client(commission)
        .get(reverse("membership:anomalies", args=[tree.bologna.pk]) + f"?anno={YEAR}")
        .content.decode()
    )
    assert page.index(str(FlagKind.SHARED_INSTRUMENT.label)) < page.index(str(FlagKind.SHARED_EMAIL.label))
    assert "2 da esaminare su 2 segnalazioni" in page
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "duplicate ids"
    for select in re.findall(r'<select[^>]*\sid="([^"]+)"', page) + re.findall(r'<textarea[^>]*\sid="([^"]+)"', page):
        assert f'for="{select}"' in page, f"{select} has no label"
    options = re.findall(r'<select name="status"[^>]*>(.*?)</select>', page, re.S)
    assert len(options) == 2 and all('value="" selected' in o for o in options)


def test_the_index_counts_flags_and_objections_most_urgent_first(tree):
    _flags(tree)
    m = paid(tree)
    Membership.objects.filter(pk=m.pk).update(circolo=tree.modena_nord)
    secretary = make_official("segr.mo", tree.modena_nord, [Role.MEMBERSHIP])
    Objection.objects.create(
        membership=m, raised_by_body=Objection.RaisedBy.CIRCOLO, raised_by=secretary, reason="prova"
    )
    national = make_official("garanzia.naz", tree.national, [Role.GUARANTEE, Role.MEMBERSHIP])
    page = verified_client(national).get(reverse("membership:overview")).content.decode()
    table = page[page.index('id="anomaly-index"') :]
    rows = re.findall(r"<tr><th scope=\"row\"><a href=\"([^\"]+)\">([^<]+)</a></th>((?:<td>\d+</td>){4})</tr>", table)
    assert rows[0][1] == tree.bologna.name
    assert re.findall(r"\d+", rows[0][2]) == ["1", "2", "0", "0"]
    modena = next(r for r in rows if r[1] == tree.modena.name)
    assert re.findall(r"\d+", modena[2]) == ["0", "0", "0", "1"]
    assert rows.index(modena) == 1  # an open objection comes before federations with nothing


def test_anomaly_texts_are_stored_to_be_read_in_the_readers_language(tree, monkeypatch):
    from django.utils import translation

    from piazza.membership.models import ANOMALY_SUMMARY_KEY

    _flags(tree)
    flag = AnomalyFlag.objects.get(kind=FlagKind.SHARED_EMAIL)
    stored = flag.evidence[ANOMALY_SUMMARY_KEY]
    assert stored["msgid"] == "%(n)s iscritti con lo stesso indirizzo email %(value)s"
    assert flag.display_summary == flag.summary == "3 iscritti con lo stesso indirizzo email stessa@example.org"
    assert ("recapito", "stessa@example.org") in flag.evidence_rows
    assert all(label != ANOMALY_SUMMARY_KEY for label, _value in flag.evidence_rows)
    english = {stored["msgid"]: "%(n)s members share the email address %(value)s"}
    monkeypatch.setattr("piazza.core.i18n.gettext", lambda m: english.get(m, m))
    with translation.override("en"):
        assert flag.display_summary == "3 members share the email address stessa@example.org"


def test_a_card_shared_at_exactly_the_limit_is_not_a_serious_flag(tree):
    """M24 allows up to the limit (3 by default): the flag says "within the limit" and waits at
    the bottom of the report, not among the serious ones."""
    for _ in range(3):
        paid(tree, fingerprint="card-7")
    review_actions.detect_anomalies(actor=None, federation=tree.bologna, year=YEAR)
    flag = AnomalyFlag.objects.get(kind=FlagKind.SHARED_INSTRUMENT)
    assert "entro il limite della federazione, 3" in flag.summary
    from piazza.membership import queries

    assert queries.flag_severity(flag.kind, flag.evidence) == 1
    row = next(r for r in queries.anomaly_index(tree.bologna.__class__.objects.filter(pk=tree.bologna.pk), YEAR))
    assert (row.serious, row.open) == (0, 1)
