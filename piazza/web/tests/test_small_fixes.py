"""Issue 11 item 18, the smaller fixes, each on the page a person uses: breadcrumbs that resolve,
the treasurer's audit-log link, questions with no pre-set answer, single choices pre-chosen."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import reverse

from piazza.core.audit import record
from piazza.core.models import AuditKind
from piazza.funding.forms import DonationForm
from piazza.funding.models import Frequency
from piazza.membership.forms import JoinForm, RenewalForm, ReviewForm
from piazza.membership.tests.conftest import schedule  # noqa: F401  (fixture: the year's fees)
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = pytest.mark.django_db
HREF = re.compile(r'href="([^"#?]+)"')


def breadcrumb_links(html: str) -> list[str]:
    nav = re.search(r'<nav class="breadcrumbs"[^>]*>(.*?)</nav>', html, re.S)
    assert nav is not None
    return HREF.findall(nav.group(1))


def test_every_breadcrumb_link_answers_200_for_an_official_in_scope(tree):
    federation_official = make_official("org.bo", tree.bologna, [Role.ORGANISATION])
    client = verified_client(federation_official)
    page = client.get(reverse("territory:detail", args=[tree.bologna_centro.pk])).content.decode()
    links = breadcrumb_links(page)
    assert links == [reverse("territory:detail", args=[tree.bologna.pk])]  # not the region, not the nation
    assert tree.emilia.name in page and tree.national.name in page  # still named, as text
    for link in links:
        assert client.get(link).status_code == 200


def test_a_circolo_secretary_gets_no_breadcrumb_link_above_the_circolo(tree):
    secretary = make_official("segr.centro", tree.bologna_centro, [Role.ORGANISATION])
    client = verified_client(secretary)
    page = client.get(reverse("territory:detail", args=[tree.bologna_centro.pk])).content.decode()
    assert breadcrumb_links(page) == []
    assert client.get(reverse("territory:detail", args=[tree.bologna.pk])).status_code == 404


def test_the_treasurers_audit_log_link_answers_200_with_the_money_entries_only(tree):
    treasurer = make_official("tes.bo", tree.bologna, [Role.TREASURY])
    record("bank.import_statement", actor=treasurer, territory=tree.bologna_centro, data={})
    record("people.view_person", actor=treasurer, territory=tree.bologna_centro, kind=AuditKind.VIEW, data={})
    record("bank.register_account", actor=treasurer, territory=tree.modena, data={})  # another federation
    client = verified_client(treasurer)
    dashboard = client.get(reverse("web:dashboard")).content.decode()
    assert reverse("web:audit_log") in dashboard
    response = client.get(reverse("web:audit_log"))
    assert response.status_code == 200
    actions = [e.action for e in response.context["page"].object_list]
    assert "bank.import_statement" in actions
    assert "people.view_person" not in actions and "bank.register_account" not in actions


def test_an_official_without_the_audit_log_sees_no_link_to_it(tree):
    communication = make_official("com.bo", tree.bologna, [Role.COMMUNICATION])
    client = verified_client(communication)
    assert reverse("web:audit_log") not in client.get(reverse("web:dashboard")).content.decode()
    assert client.get(reverse("web:audit_log")).status_code == 403


@pytest.mark.parametrize("form_class", [JoinForm, RenewalForm])
def test_other_party_has_no_default_and_needs_an_explicit_answer(form_class):
    kwargs = {"circoli": [(1, "Circolo")]} if form_class is JoinForm else {}
    blank = form_class(**kwargs)
    assert not blank["member_of_other_party"].initial
    assert "checked" not in str(blank["member_of_other_party"])
    bound = form_class({}, **kwargs)
    assert not bound.is_valid()
    assert bound.errors["member_of_other_party"] == ["Rispondi: sei iscritto a un altro partito o movimento politico?"]


@pytest.mark.usefixtures("schedule")
def test_the_join_page_shows_other_party_unanswered_and_asks_for_it(client, tree):
    url = reverse("membership:join") + "?comune=Bologna"
    page = client.get(url).content.decode()
    radios = re.findall(r'<input[^>]*name="member_of_other_party"[^>]*>', page)
    assert len(radios) == 2 and not any("checked" in r for r in radios)
    sent = client.post(url, {"first_name": "Anna"}).content.decode()
    assert "Rispondi: sei iscritto a un altro partito" in sent
    assert 'id="error-summary"' in sent and "<title>Errori da correggere" in sent


def test_the_review_form_has_no_preset_outcome():
    blank = ReviewForm()
    assert "selected" not in str(blank["status"]).replace('value="" selected', "")
    bound = ReviewForm({"note": "visto"})
    assert not bound.is_valid() and bound.errors["status"] == ["Scegli l'esito dell'esame."]


def test_a_single_frequency_is_chosen_already(tree):
    from piazza.funding.tests.conftest import build_live_campaign

    owner = make_official("tes.centro", tree.bologna_centro, [Role.ORGANISATION, Role.TREASURY])
    approver = make_official("fed.bo", tree.bologna, [Role.ORGANISATION, Role.TREASURY])
    campaign = build_live_campaign(tree, owner, approver)
    campaign.allow_monthly = False
    form = DonationForm(campaign=campaign)
    assert form["frequency"].value() == Frequency.ONE_OFF
    campaign.allow_monthly = True
    assert DonationForm(campaign=campaign)["frequency"].value() in (None, "")


def labelled_and_unique(html: str) -> None:
    """Every id once; every visible input, select and textarea named by a <label for=…>."""
    ids = re.findall(r'\sid="([^"]+)"', html)
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    assert dupes == [], f"duplicate ids: {dupes}"
    labels = set(re.findall(r'<label[^>]*\sfor="([^"]+)"', html))
    for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
        if re.search(r'type="(hidden|submit|button)"', tag) or "aria-label=" in tag:
            continue
        found = re.search(r'\sid="([^"]+)"', tag)
        assert found and found.group(1) in labels, f"unlabelled field: {tag}"


@pytest.mark.usefixtures("schedule")
def test_fee_rules_and_membership_detail_pages_have_unique_ids_and_labelled_fields(tree):
    from piazza.membership.tests.conftest import paid

    national = make_official("naz.tess", tree.national, [Role.ADMINISTRATOR, Role.MEMBERSHIP, Role.ORGANISATION])
    client = verified_client(national)
    labelled_and_unique(client.get(reverse("membership:rules")).content.decode())
    m = paid(tree)
    labelled_and_unique(client.get(reverse("membership:membership", args=[m.pk])).content.decode())


def test_every_page_has_a_description_a_favicon_and_no_injected_htmx_style(client, tree):
    """Items 18–19: meta description, favicon, and htmx told not to inject its indicator <style>
    (the CSP refuses inline styles; the indicator rules live in piazza.css)."""
    from django.contrib.staticfiles import finders

    page = client.get(reverse("web:home")).content.decode()
    assert re.search(r'<meta name="description" content="[^"]{20,}">', page)
    assert """<meta name="htmx-config" content='{"includeIndicatorStyles": false}'>""" in page
    favicon = re.search(r'<link rel="icon" href="/static/([^"]+)"', page)
    assert favicon and finders.find(favicon.group(1))
    css = finders.find("web/piazza.css")
    assert css and ".htmx-indicator" in Path(css).read_text(encoding="utf-8")
