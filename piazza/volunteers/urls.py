from django.urls import path

from piazza.volunteers import views

app_name = "volunteers"

urlpatterns = [
    path("gestione/", views.manage, name="manage"),
    path("gestione/nuova/", views.opportunity_create, name="opportunity_create"),
    path("gestione/<int:pk>/", views.opportunity_detail, name="opportunity"),
    path("gestione/<int:pk>/turni/", views.shift_add, name="shift_add"),
    path("gestione/<int:pk>/esporta/", views.export_signups, name="export"),
    path("gestione/iscrizioni/<int:pk>/presenza/", views.attendance, name="attendance"),
    path("gestione/scala/", views.ladder, name="ladder"),
    path("chiamate/nuova/", views.call_list_create, name="call_list_create"),
    path("chiamate/<int:pk>/", views.call_list_detail, name="call_list"),
    path("chiamate/<int:pk>/prossimo/", views.call_take, name="call_take"),
    path("chiamate/contatto/<int:pk>/", views.call, name="call"),
    path("chiamate/contatto/<int:pk>/esito/", views.call_outcome, name="call_outcome"),
    path("telefonate/", views.my_calls, name="my_calls"),
    path("telefonate/<int:pk>/prossimo/", views.volunteer_take, name="volunteer_take"),
    path("telefonate/contatto/<int:pk>/", views.volunteer_call, name="volunteer_call"),
    path("telefonate/contatto/<int:pk>/esito/", views.volunteer_outcome, name="volunteer_outcome"),
    path("<uuid:public_id>/", views.public, name="public"),
    path("<uuid:public_id>/grazie/", views.public_thanks, name="public_thanks"),
]
