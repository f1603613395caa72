"""The portal under /trasparenza/ (config/urls.py). `registro/…` belongs to the donor register."""

from django.urls import path

from piazza.transparency import rounds, views

app_name = "transparency"

urlpatterns = [
    path("conti/", views.index, name="index"),
    path("conti/<int:territory_id>/<int:year>/", views.territory_report, name="territory"),
    path("conti/<int:territory_id>/<int:year>/datapackage.json", views.territory_package, name="territory_package"),
    path("conti/<int:territory_id>/<int:year>/<slug:table>.<slug:fmt>", views.territory_file, name="territory_file"),
    path("candidati/<int:candidacy_id>/<int:year>/", views.candidacy_report, name="candidacy"),
    path("candidati/<int:candidacy_id>/<int:year>/datapackage.json", views.candidacy_package, name="candidacy_package"),
    path(
        "candidati/<int:candidacy_id>/<int:year>/<slug:table>.<slug:fmt>", views.candidacy_file, name="candidacy_file"
    ),
    # Issue 17: results of the quadratic rounds, with their inputs as open data.
    path("round/", rounds.rounds_index, name="rounds"),
    path("round/<int:pk>/", rounds.round_page, name="round"),
    path("round/<int:pk>.<slug:fmt>", rounds.round_file, name="round_file"),
]
