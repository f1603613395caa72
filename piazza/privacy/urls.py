from django.urls import URLPattern, URLResolver, path

from piazza.privacy import erasure_views, notice_views, records_views, space_views, views

app_name = "privacy"

urlpatterns: list[URLPattern | URLResolver] = [
    # The person's own pages (rule G5): no login, identity proved by links to their address.
    path("i-miei-dati/", views.request_export, name="request_export"),
    path("i-miei-dati/conferma/<str:token>/", views.confirm_export, name="confirm_export"),
    path("i-miei-dati/richieste/", views.request_status, name="request_status"),
    path("i-miei-dati/scarica/<str:token>/", views.download_export, name="download_export"),
    # From Il mio spazio (signed in by the emailed link).
    path("i-miei-dati/copia/", space_views.space_export, name="space_export"),
    path("i-miei-dati/cancellazione/", space_views.space_erasure, name="space_erasure"),
    # Back office.
    path("gestione/persone/<int:person_id>/richiesta/", views.paper_request, name="paper_request"),
    path("gestione/richieste/", views.board, name="board"),
    path("gestione/richieste/<int:pk>/proroga/", views.extend, name="extend"),
    path("persone/<int:pk>/cancella/", erasure_views.erase, name="erase"),
    path("cancellazione/<str:token>/", erasure_views.request_erasure_view, name="request_erasure"),
    path("conservazione/", erasure_views.retention, name="retention"),
    # Privacy notices (issue 12): public, at stable URLs; the privacy officer's pages.
    path("informativa/<slug:key>/", notice_views.notice_current, name="notice"),
    path("informativa/<slug:key>/<str:label>/", notice_views.notice_version, name="notice_version"),
    path("gestione/informative/", notice_views.notices_admin, name="notices_admin"),
    path("gestione/informative/<slug:key>/", notice_views.notice_admin, name="notice_admin"),
    path("gestione/informative/<slug:key>/nuova/", notice_views.notice_publish, name="notice_publish"),
    path("gestione/informative/versioni/<int:pk>/persone/", notice_views.notice_people, name="notice_people"),
    # Record of processing activities (GDPR art. 30) and data breach register (art. 33(5)).
    path("gestione/registro-trattamenti/", records_views.processing_record, name="processing"),
    path("gestione/registro-trattamenti/pdf/", records_views.processing_pdf, name="processing_pdf"),
    path("gestione/violazioni/", records_views.breach_board, name="breaches"),
    path("gestione/violazioni/<int:pk>/", records_views.breach_detail, name="breach_detail"),
    path("gestione/violazioni/esporta/", records_views.breach_export, name="breach_export"),
]
