from django.urls import path

from piazza.membership import views

app_name = "membership"

urlpatterns = [
    path("iscriviti/", views.join, name="join"),
    path("iscrizione/<str:token>/", views.status, name="status"),
    path("tessera/<str:token>/", views.card, name="card"),
    path("tessera/<str:token>/pdf/", views.card_pdf, name="card_pdf"),
    path("rinnova/<str:token>/", views.renew, name="renew"),
    path("albo/", views.albo, name="albo"),
    path("gestione/", views.overview, name="overview"),
    path("gestione/circolo/<int:pk>/", views.circolo_members, name="circolo"),
    path("gestione/circolo/<int:pk>/registra/", views.desk_register, name="desk_register"),
    path("gestione/iscrizioni/<int:pk>/", views.membership_detail, name="membership"),
    path("gestione/iscrizioni/<int:pk>/quota/", views.membership_pay, name="membership_pay"),
    path("gestione/iscrizioni/<int:pk>/consegna/", views.membership_deliver, name="membership_deliver"),
    path("gestione/congressi/nuovo/", views.congress_create, name="congress_create"),
    path("gestione/congressi/<int:pk>/", views.congress_detail, name="congress"),
    path("gestione/congressi/<int:pk>/circolo/<int:circolo_pk>/calcola/", views.roll_compute, name="roll_compute"),
    path("gestione/anagrafi/<int:pk>/", views.roll_detail, name="roll"),
    path("gestione/anagrafi/<int:pk>/firma/", views.roll_sign, name="roll_sign"),
    path("gestione/anagrafi/<int:pk>/voto/", views.roll_vote, name="roll_vote"),
    path("gestione/anagrafi/<int:pk>/<str:fmt>/", views.roll_export, name="roll_export"),
    path("gestione/anomalie/<int:pk>/", views.anomaly_report, name="anomalies"),
    path("gestione/segnalazioni/<int:pk>/esame/", views.anomaly_review, name="anomaly_review"),
]
