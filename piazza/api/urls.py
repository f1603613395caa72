"""Mounted at /api/ (config/urls.py, no namespace): the versioned API keeps its own top-level
namespace `api-v1` (django-ninja reverses its root by that name), the back-office pages `api:`."""

from django.urls import URLPattern, URLResolver, include, path

from piazza.api import views
from piazza.api.v1 import api
from piazza.api.webhooks import views as webhooks

backoffice: list[URLPattern | URLResolver] = [
    path("", views.keys, name="keys"),
    path("<int:key_id>/revoca/", views.revoke, name="revoke"),
    path("webhook/", webhooks.subscriptions, name="webhooks"),
    path("webhook/<int:subscription_id>/", webhooks.detail, name="webhook"),
    path("webhook/<int:subscription_id>/nuovo-segreto/", webhooks.rotate, name="webhook_rotate"),
    path("webhook/<int:subscription_id>/sospendi/", webhooks.pause, name="webhook_pause"),
    path("webhook/<int:subscription_id>/riattiva/", webhooks.resume, name="webhook_resume"),
    path("webhook/<int:subscription_id>/elimina/", webhooks.delete, name="webhook_delete"),
    path(
        "webhook/<int:subscription_id>/consegne/<int:delivery_id>/rinvia/",
        webhooks.redeliver,
        name="webhook_redeliver",
    ),
]

urlpatterns: list[URLPattern | URLResolver] = [
    path("v1/", api.urls),
    path("chiavi/", include((backoffice, "api"))),
]
