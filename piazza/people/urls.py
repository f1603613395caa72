from django.urls import URLPattern, URLResolver, path

from piazza.people import views

app_name = "people"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.person_list, name="list"),
    path("nuova/", views.person_edit, name="create"),
    path("<int:pk>/", views.person_detail, name="detail"),
    path("<int:pk>/modifica/", views.person_edit, name="edit"),
    path("<int:pk>/consenso/", views.person_consent, name="consent"),
    path("esporta/", views.export, name="export"),
    path("segmenti/", views.segment_list, name="segments"),
    path("segmenti/salva/", views.segment_save, name="segment_save"),
    path("segmenti/nuovo/", views.segment_edit, name="segment_create"),
    path("segmenti/anteprima/", views.segment_preview, name="segment_preview"),
    path("segmenti/<int:pk>/modifica/", views.segment_edit, name="segment_edit"),
    path("segmenti/<int:pk>/elimina/", views.segment_delete, name="segment_delete"),
    path("segmenti/<int:pk>/conteggio/", views.segment_count, name="segment_count"),
    path("duplicati/", views.duplicate_list, name="duplicates"),
    path("richieste/", views.request_list, name="requests"),
    path("richieste/<int:pk>/chiudi/", views.request_close, name="request_close"),
    path("duplicati/<int:pk>/", views.duplicate_review, name="duplicate_review"),
    path("importa/", views.import_upload, name="import_upload"),
    path("importa/<int:pk>/colonne/", views.import_map, name="import_map"),
    path("importa/<int:pk>/destinazione/", views.import_target, name="import_target"),
    path("importa/<int:pk>/anteprima/", views.import_preview, name="import_preview"),
    path("importa/<int:pk>/avanzamento/", views.import_progress, name="import_progress"),
    path("importa/<int:pk>/rapporto/", views.import_report, name="import_report"),
    path("importa/<int:pk>/scartate.csv", views.import_rejected_csv, name="import_rejected"),
    path("codici-da-verificare/", views.code_date_reviews, name="code_date_reviews"),
    path("codici-da-verificare/<int:pk>/", views.code_date_resolve, name="code_date_resolve"),
]
