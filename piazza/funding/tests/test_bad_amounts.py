"""Bad amounts on the public donation form and the campaign form answer with a question or a
clear message, never 500, and write nothing (issue 10, finding 13)."""

import html

import pytest
from django.urls import reverse

from piazza.funding.models import Campaign, Donation
from piazza.funding.tests.flows import form_data
from piazza.payments.models import Payment
from piazza.people.models import Person
from piazza.territory.testing import verified_client

pytestmark = pytest.mark.django_db


def post(client, campaign, **over):
    return client.post(reverse("funding:donate", args=[campaign.slug]), form_data(campaign, **over))


def assert_nothing_written():
    assert not Donation.objects.exists()
    assert not Person.objects.exists()
    assert not Payment.objects.exists()


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("²", "Scrivi un importo in euro"),
        ("99999999999999999999", "non può superare"),
        ("10.005", "Intendevi 10,01 € o 10.005,00 €? Scrivi l'importo con la virgola per i centesimi"),
        ("1,234.50", "Intendevi 1.234,50 €?"),
    ],
)
def test_bad_custom_amount_is_a_form_error(client, live_campaign, amount, message):
    response = post(client, live_campaign, preset=None, custom_amount=amount)
    assert response.status_code == 400
    assert message in html.unescape(response.content.decode())
    assert_nothing_written()


@pytest.mark.parametrize("goal", ["99999999999999999999", "²", "10.005"])
def test_campaign_goal_out_of_range_is_a_form_error(tree, circolo_official, goal):
    client = verified_client(circolo_official)
    url = reverse("funding:manage_create") + f"?territory={tree.bologna_centro.pk}"
    response = client.post(
        url,
        {
            "title": "Volantini",
            "summary": "Stampa",
            "kind": "project",
            "funding_model": "keep_it_all",
            "goal": goal,
            "deadline": "2099-01-01T12:00",
            "territory": tree.bologna_centro.pk,
        },
    )
    assert response.status_code == 200
    assert "Obiettivo" in response.content.decode()
    assert response.context["form"].errors["goal"]
    assert not Campaign.objects.exists()


@pytest.mark.parametrize("percent", ["²", "٣٠", "99999999999999999999999"])
def test_split_percent_in_unicode_digits_is_a_form_error(tree, circolo_official, percent):
    from django.core.exceptions import ValidationError

    from piazza.funding.views import _parse_shares

    with pytest.raises(ValidationError, match="Riga non valida"):
        _parse_shares(circolo_official, f"{tree.bologna_centro.name}, {percent}")
