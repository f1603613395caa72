"""Mounted at /api/ (config/urls.py, no namespace): the versioned API keeps its own top-level
namespace `api-v1` (django-ninja reverses its root by that name), the back-office pages `api:`."""

from django.urls import URLPattern, URLResolver, include, path

from piazza.api import views
from piazza.api.v1 import api

backoffice: list[URLPattern | URLResolver] = [
    path("", views.keys, name="keys"),
    path("<int:key_id>/revoca/", views.revoke, name="revoke"),
]

urlpatterns: list[URLPattern | URLResolver] = [
    path("v1/", api.urls),
    path("chiavi/", include((backoffice, "api"))),
]
