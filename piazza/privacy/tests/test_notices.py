"""Privacy notices per point of collection (rule G5, GDPR art. 13; G3 for the evidence): the
shipped texts, the public pages, the version shown and recorded on the donate and join paths, a
new version published while a form is open, and who saw which version (G4: that list is audited)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import IntegrityError, InternalError, transaction
from django.urls import reverse
from django.utils import timezone

from piazza.core.models import AuditEntry, AuditKind
from piazza.funding.models import Donation
from piazza.funding.tests.conftest import build_live_campaign
from piazza.funding.tests.flows import card, codice_fiscale_for, form_data
from piazza.membership.models import FeeSchedule, Membership, Supporter
from piazza.membership.tests.conftest import join_data
from piazza.people.actions.notices import ensure_default_notices, publish_notice_version
from piazza.people.models import CollectionPoint, Consent, NoticeAcceptance, NoticeVersion, PrivacyNotice
from piazza.people.tests.notices import in_force
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("check_ledger"), pytest.mark.clock("2026-06-10 10:00")]

NEW_BODY = (
    "## Chi tratta i tuoi dati\nIl partito, sede nazionale.\n\n## Perché\nPer la donazione e la ricevuta, "
    "per gli obblighi della legge 3/2019.\n\n## Per quanto tempo\nDieci anni per la contabilità.\n\n"
    "## I tuoi diritti\nAccesso, rettifica, cancellazione, reclamo al Garante. <script>alert(1)</script>"
)


@pytest.fixture(autouse=True)
def notices() -> None:
    ensure_default_notices()  # a transactional test before may have emptied the tables


@pytest.fixture
def campaign(tree: Any) -> Any:
    owner = make_official("tesoriere.centro", tree.bologna_centro, [Role.ORGANISATION, Role.TREASURY])
    approver = make_official("federazione.bo", tree.bologna, [Role.ORGANISATION, Role.TREASURY])
    return build_live_campaign(tree, owner, approver)


@pytest.fixture
def officer(tree: Any) -> Any:
    return make_official("dpo.notices", tree.national, [Role.PRIVACY_OFFICER])


def _publish_donate_v2(officer: Any) -> NoticeVersion:
    return publish_notice_version(
        actor=officer,
        notice=PrivacyNotice.objects.get(key="donate"),
        language="it",
        label="2026.2",
        title="Informativa privacy per chi dona",
        body=NEW_BODY,
        changes="Nuovo paragrafo sui tempi di conservazione",
    )


def test_every_point_of_collection_ships_a_readable_notice_in_italian_and_english(client, settings):
    """Art. 13: controller, DPO contact from settings, purposes, legal basis, retention, rights."""
    for key in CollectionPoint.values:
        italian, english = in_force(key, "it"), in_force(key, "en")
        assert italian is not None and english is not None, key
        assert (italian.language, english.language, italian.label) == ("it", "en", "2026.1")
        for text in (
            "Titolare del trattamento",
            settings.PRIVACY_DPO_EMAIL,
            "Base giuridica",
            "Conserviamo",
            "Garante",
        ):
            assert text in italian.body, (key, text)
        assert "Legal basis" in english.body and settings.PRIVACY_CONTROLLER_EMAIL in english.body
    assert "art. 14" in in_force("import", "it").body  # data not obtained from the person
    page = client.get(reverse("privacy:notice", args=["donate"]))
    body = page.content.decode()
    assert page.status_code == 200 and "Informativa privacy per chi dona" in body and "<h2>Chi tratta" in body
    english = client.get(reverse("privacy:notice", args=["donate"]) + "?lingua=en").content.decode()
    assert "Privacy notice for donors" in english
    assert client.get(reverse("privacy:notice", args=["sconosciuta"])).status_code == 404
    assert client.get(reverse("privacy:notice_version", args=["donate", "1999.9"])).status_code == 404


def test_the_donate_path_shows_the_notice_and_records_the_version_seen_with_the_gift(client, campaign):
    """The form links the version it shows; the submit records it (G3), linked to the donor once paid."""
    shown = in_force("donate", "it")
    page = client.get(reverse("funding:donate", args=[campaign.slug])).content.decode()
    url = reverse("privacy:notice_version", args=["donate", "2026.1"])
    assert f'href="{url}"' in page and "Informativa privacy (versione 2026.1)" in page
    assert f'name="notice_version" value="{shown.pk}"' in page
    response = client.post(reverse("funding:donate", args=[campaign.slug]), form_data(campaign))
    assert response.status_code == 302
    donation = Donation.objects.get()
    acceptance = NoticeAcceptance.objects.get()
    assert (acceptance.version, acceptance.collection_point, acceptance.channel) == (shown, "donate", "web")
    assert (acceptance.source_label, acceptance.source_id, acceptance.person) == ("funding.donation", donation.pk, None)
    audit = AuditEntry.objects.get(action="funding.submit_donation")
    assert audit.data["notice"] == "donate-2026.1"
    client.post(response["Location"], card())  # paid: the donor's record exists now
    donation.refresh_from_db()
    acceptance.refresh_from_db()
    assert donation.person is not None and acceptance.person == donation.person
    # The public page of the version the donor read stays at the URL the form linked.
    assert "Informativa privacy per chi dona" in client.get(url).content.decode()


def test_the_join_path_records_the_version_seen_with_the_application(client, tree):
    year = timezone.localdate().year
    FeeSchedule.objects.create(
        year=year,
        base_fee_cents=1500,
        national_surcharge_cents=500,
        regional_deadline=dt.date(year, 1, 10),
        opens_at=timezone.make_aware(dt.datetime(year - 1, 11, 1)),
        closes_at=timezone.make_aware(dt.datetime(year, 12, 31, 23, 59, 59)),
    )
    url = reverse("membership:join") + "?comune=Bologna"
    page = client.get(url).content.decode()
    shown = in_force("join", "it")
    assert "Informativa privacy (versione 2026.1)" in page and f'value="{shown.pk}"' in page
    data = join_data()
    response = client.post(
        url,
        {
            "first_name": data.first_name,
            "last_name": data.last_name,
            "sex": data.sex,
            "birth_date": data.birth_date.isoformat(),
            "birth_place": "Bologna",
            "codice_fiscale": data.codice_fiscale,
            "citizenship": "italian",
            "residence_street": "Via Rizzoli 1",
            "residence_cap": "40125",
            "email": "nuova@example.org",
            "phone": "",
            "circolo": tree.bologna_centro.pk,
            "member_of_other_party": "no",
            "declarations_accepted": "on",
            "art9_authorised": "on",
            "notice_version": str(shown.pk),
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    membership = Membership.objects.get()
    # The art. 9 authorisation is part of the join notice: its version comes from the registry.
    assert membership.art9_text_version == "join-2026.1"
    acceptance = NoticeAcceptance.objects.get()
    assert (acceptance.person, acceptance.version, acceptance.source_label) == (
        membership.person,
        shown,
        "membership.membership",
    )


def test_a_form_opened_before_a_new_version_records_the_version_it_showed(client, campaign, officer, clock):
    """Never silently the new one: within the grace period the old version shown is recorded."""
    old = in_force("donate", "it")
    data = form_data(campaign)  # the page was rendered with version 2026.1
    clock.tick(60)
    new = _publish_donate_v2(officer)
    assert in_force("donate", "it") == new
    clock.tick(3600)  # the donor sends the form an hour later
    response = client.post(reverse("funding:donate", args=[campaign.slug]), data)
    assert response.status_code == 302
    assert NoticeAcceptance.objects.get().version == old
    assert AuditEntry.objects.get(action="funding.submit_donation").data["notice"] == "donate-2026.1"
    # A fresh page shows the new version.
    page = client.get(reverse("funding:donate", args=[campaign.slug])).content.decode()
    assert "Informativa privacy (versione 2026.2)" in page


def test_a_form_sent_after_the_grace_period_is_refused_and_shows_the_new_version(
    client, campaign, officer, clock, settings
):
    data = form_data(campaign)
    _publish_donate_v2(officer)
    clock.tick(3600 * (settings.PRIVACY_NOTICE_GRACE_HOURS + 1))
    response = client.post(reverse("funding:donate", args=[campaign.slug]), data)
    body = response.content.decode()
    assert response.status_code == 400
    assert "L&#x27;informativa privacy è cambiata mentre compilavi il modulo" in body
    assert "Informativa privacy (versione 2026.2)" in body
    new = in_force("donate", "it")
    assert f'name="notice_version" value="{new.pk}"' in body  # sending again records the one now read
    assert not Donation.objects.exists() and not NoticeAcceptance.objects.exists()


@pytest.mark.parametrize("value", ["", "abc", "999999999", "99999999999999999999999", "join"])
def test_a_missing_or_foreign_notice_version_is_refused_with_a_message(client, campaign, value):
    if value == "join":  # a real version, of another point of collection
        value = str(in_force("join", "it").pk)
    response = client.post(reverse("funding:donate", args=[campaign.slug]), form_data(campaign, notice_version=value))
    assert response.status_code == 400
    assert "Non risulta quale informativa privacy hai letto" in response.content.decode()
    assert not Donation.objects.exists() and not NoticeAcceptance.objects.exists()


def test_who_saw_which_version_counts_per_version_and_an_audited_list_of_people(client, campaign, officer, clock):
    """After a change of notice, the privacy officer sees how many accepted each version and who."""
    first = form_data(campaign)
    name, surname, code = codice_fiscale_for(7)
    second = form_data(campaign, codice_fiscale=code, first_name=name, last_name=surname)
    client.post(client.post(reverse("funding:donate", args=[campaign.slug]), first)["Location"], card())
    clock.tick(60)
    new = _publish_donate_v2(officer)
    clock.tick(60)
    unpaid = client.post(reverse("funding:donate", args=[campaign.slug]), {**second, "notice_version": str(new.pk)})
    assert unpaid.status_code == 302
    office = verified_client(officer)
    page = office.get(reverse("privacy:notice_admin", args=["donate"])).content.decode()
    old = in_force("donate", "en")  # untouched English version is still 2026.1
    assert old is not None and old.label == "2026.1"
    v1 = NoticeVersion.objects.get(notice__key="donate", language="it", label="2026.1")
    row_v1 = page[page.index(f'id="version-{v1.pk}"') :].split("</tr>")[0]
    row_v2 = page[page.index(f'id="version-{new.pk}"') :].split("</tr>")[0]
    assert '<td class="num">1</td><td class="num">0</td>' in row_v1  # Giulia, paid
    assert '<td class="num">0</td><td class="num">1</td>' in row_v2  # the second gift is not paid yet
    assert "(in vigore)" in row_v2 and "(in vigore)" not in row_v1
    listing = office.get(reverse("privacy:notice_people", args=[v1.pk]))
    assert listing.status_code == 200 and "Giulia Rossi" in listing.content.decode()
    assert surname not in listing.content.decode()
    entry = AuditEntry.objects.filter(action="privacy.notice_people", kind=AuditKind.VIEW, actor=officer).get()
    assert entry.object_id == str(v1.pk)


def test_only_the_national_privacy_officer_and_administrator_see_the_notice_pages(tree, circolo_secretary):
    v1 = in_force("donate", "it")
    secretary = verified_client(circolo_secretary)
    regional = verified_client(make_official("privacy.emilia", tree.emilia, [Role.PRIVACY_OFFICER]))
    admin = verified_client(make_official("admin.nazionale", tree.national, [Role.ADMINISTRATOR]))
    urls = [
        reverse("privacy:notices_admin"),
        reverse("privacy:notice_admin", args=["donate"]),
        reverse("privacy:notice_publish", args=["donate"]),
        reverse("privacy:notice_people", args=[v1.pk]),
    ]
    for url in urls:
        assert secretary.get(url).status_code == 403, url
        assert regional.get(url).status_code == 403, url
        assert admin.get(url).status_code == 200, url


def test_the_officer_previews_with_a_diff_then_publishes_a_new_version(officer):
    office = verified_client(officer)
    url = reverse("privacy:notice_publish", args=["donate"])
    form = office.get(url).content.decode()
    assert "Titolare del trattamento" in form  # pre-filled with the version in force
    values = {"language": "it", "label": "2026.2", "title": "Informativa privacy per chi dona", "body": NEW_BODY}
    preview = office.post(url, {**values, "preview": "1"})
    body = preview.content.decode()
    assert preview.status_code == 200 and "Anteprima" in body and "<h2>Per quanto tempo</h2>" in body
    assert "<script>" not in body.split('id="preview-heading"')[1]  # sanitised by nh3
    assert "<ins>+ Dieci anni per la contabilità.</ins>" in body and "<del>- " in body
    assert not NoticeVersion.objects.filter(label="2026.2").exists()  # a preview publishes nothing
    published = office.post(url, {**values, "publish": "1"})
    assert published.status_code == 302
    version = NoticeVersion.objects.get(notice__key="donate", label="2026.2")
    assert version.published_by == officer and "<script>" not in version.body_html
    assert AuditEntry.objects.filter(action="people.publish_notice_version", object_id=str(version.pk)).exists()
    assert in_force("donate", "it") == version


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"label": "2026.1"}, "La versione 2026.1 esiste già in questa lingua"),
        ({"body": "Troppo corto."}, "Il testo è troppo breve per un&#x27;informativa"),
        ({"label": ""}, "Scrivi l&#x27;etichetta della versione"),
        ({"label": "x" * 21}, "al massimo 20 caratteri"),
    ],
)
def test_a_bad_new_version_is_refused_with_a_message_and_publishes_nothing(officer, values, message):
    office = verified_client(officer)
    before = NoticeVersion.objects.count()
    data = {"language": "it", "label": "2027.1", "title": "Informativa", "body": NEW_BODY, "publish": "1", **values}
    response = office.post(reverse("privacy:notice_publish", args=["donate"]), data)
    assert response.status_code == 400 and message in response.content.decode()
    assert NoticeVersion.objects.count() == before


def test_published_versions_cannot_be_edited(officer):
    """Append-only at the database: the text people accepted stays as they read it."""
    version = in_force("donate", "it")
    with pytest.raises((IntegrityError, InternalError)), transaction.atomic():
        NoticeVersion.objects.filter(pk=version.pk).update(body="cambiato")
    version.refresh_from_db()
    assert "cambiato" not in version.body


def test_the_albo_consent_records_the_albo_notice_version(client, tree):
    shown = in_force("albo", "it")
    page = client.get(reverse("membership:albo")).content.decode()
    assert "Informativa privacy (versione 2026.1)" in page
    data = join_data()
    response = client.post(
        reverse("membership:albo"),
        {
            "first_name": data.first_name,
            "last_name": data.last_name,
            "birth_date": data.birth_date.isoformat(),
            "birth_place": "Bologna",
            "codice_fiscale": data.codice_fiscale,
            "citizenship": "italian",
            "residence_street": "Via Po 1",
            "residence_comune": "Bologna",
            "email": "albo.nuova@example.org",
            "phone": "+39 333 765 4321",
            "declares_support": "on",
            "consents_to_contact": "on",
            "notice_version": str(shown.pk),
        },
    )
    assert response.status_code == 302, response.content.decode()[-1500:]
    supporter = Supporter.objects.get()
    assert supporter.consent_text_version == "albo-2026.1"
    assert Consent.objects.get(person=supporter.person).text_version == "albo-2026.1"
    assert NoticeAcceptance.objects.get(person=supporter.person).version == shown
