"""Public URLs of the published donor register, mounted at `trasparenza/registro/` (config/urls.py)."""

from django.urls import URLPattern, URLResolver, path

from piazza.compliance.register import public_views

app_name = "register"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", public_views.index, name="index"),
    path("<int:entity>/<int:year>/", public_views.latest, name="public"),
    path("<int:entity>/<int:year>/versione/<int:version>/", public_views.version, name="public_version"),
]
