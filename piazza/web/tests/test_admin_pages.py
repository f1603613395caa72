"""Every admin page a national administrator can open renders, read-only where history is kept."""

import pytest
from django.contrib import admin
from django.urls import reverse

from piazza.territory.testing import verified_client

pytestmark = pytest.mark.django_db


def test_every_registered_admin_changelist_opens_and_history_cannot_be_added(tree, national_admin):
    client = verified_client(national_admin)
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        response = client.get(reverse("admin:{}_{}_changelist".format(*info)))
        assert response.status_code == 200, info
        if model._meta.app_label in {
            "core",
            "ledger",
            "payments",
            "people",
            "membership",
        } and not model_admin.has_add_permission(response.wsgi_request):
            assert client.get(reverse("admin:{}_{}_add".format(*info))).status_code == 403, info
