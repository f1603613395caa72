from django.urls import URLPattern, URLResolver, path

from piazza.privacy import erasure_views, space_views, views

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
]
