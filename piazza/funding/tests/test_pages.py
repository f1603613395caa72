"""Public home lists live campaigns; the back office is scoped (404 outside) and logs donor views."""

import pytest
from django.urls import reverse

from piazza.core.models import AuditEntry, AuditKind
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = pytest.mark.django_db


def test_home_and_list_show_live_campaigns(client, live_campaign):
    assert live_campaign.title in client.get(reverse("web:home")).content.decode()
    assert live_campaign.title in client.get(reverse("funding:list")).content.decode()
    partial = client.get(reverse("funding:thermometer", args=[live_campaign.slug])).content.decode()
    assert 'hx-trigger="every 5s"' in partial


def test_dashboard_section_and_scoped_back_office(live_campaign, circolo_official, tree):
    client = verified_client(circolo_official)
    assert live_campaign.title in client.get(reverse("web:dashboard")).content.decode()
    assert client.get(reverse("funding:manage", args=[live_campaign.pk])).status_code == 200
    client.get(reverse("funding:manage_donors", args=[live_campaign.pk]))
    assert AuditEntry.objects.filter(kind=AuditKind.VIEW, action="funding.view_donors").exists()
    outsider = verified_client(make_official("milano", tree.milano, [Role.TREASURY]))
    assert outsider.get(reverse("funding:manage", args=[live_campaign.pk])).status_code == 404
    assert outsider.get(reverse("funding:manage_donors", args=[live_campaign.pk])).status_code == 404
