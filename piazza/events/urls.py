from django.urls import path

from piazza.events import views

app_name = "events"

urlpatterns = [
    path("", views.event_list, name="list"),
    path("gestione/", views.manage_list, name="manage_list"),
    path("gestione/nuovo/", views.event_create, name="create"),
    path("gestione/<int:pk>/", views.organiser, name="organiser"),
    path("gestione/<int:pk>/annulla/", views.event_cancel, name="cancel"),
    path("gestione/<int:pk>/ingresso/", views.checkin, name="checkin"),
    path("gestione/<int:pk>/ingresso/codice/", views.checkin_code, name="checkin_code"),
    path("gestione/<int:pk>/ingresso/<int:rsvp_pk>/", views.checkin_rsvp, name="checkin_rsvp"),
    path("gestione/<int:pk>/ingresso/nuovo-arrivo/", views.walk_in, name="walk_in"),
    path("gestione/<int:pk>/partecipanti.csv", views.export, name="export"),
    path("iscrizione/<str:token>/", views.rsvp_manage, name="manage"),
    path("<str:key>/", views.event_detail, name="detail"),
    path("<str:key>/grazie/", views.event_thanks, name="thanks"),
    path("<str:key>/calendario.ics", views.event_ics, name="ics"),
]
