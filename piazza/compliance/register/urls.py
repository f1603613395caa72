"""Back-office URLs of the donor register, included by `compliance.urls` under `registro/`."""

from django.urls import URLPattern, URLResolver, path

from piazza.compliance.register import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.board, name="register_board"),
    path("<int:pk>/<int:year>/", views.entity, name="register_entity"),
    path("versioni/<int:pk>/csv/", views.export_csv, name="register_csv"),
    path("versioni/<int:pk>/pdf/", views.export_pdf, name="register_pdf"),
    path("in-natura/", views.in_kind, name="register_in_kind"),
    path("in-natura/<int:pk>/documento/", views.in_kind_evidence, name="register_in_kind_evidence"),
    path("periodi-elettorali/", views.periods, name="register_periods"),
]
