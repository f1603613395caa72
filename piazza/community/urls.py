from django.urls import path

from piazza.community import views

app_name = "community"

urlpatterns = [
    path("", views.home, name="home"),
    path("accedi/", views.door, name="door"),
    path("accesso/<str:token>/", views.access, name="access"),
    path("esci/", views.sign_out, name="sign_out"),
    path("consensi/<str:purpose>/", views.consent, name="consent"),
    path("donazioni-ricorrenti/<int:pk>/annulla/", views.cancel_schedule, name="cancel_schedule"),
    path("donazioni-ricorrenti/<int:pk>/riprendi/", views.resume_schedule, name="resume_schedule"),
    path("donazioni-ricorrenti/<int:pk>/importo/", views.change_amount, name="change_amount"),
    path("dispositivi/<int:pk>/revoca/", views.revoke_device, name="revoke_device"),
    path("email/", views.change_email, name="change_email"),
    path("email/conferma/<str:token>/", views.confirm_email, name="confirm_email"),
    path("telefono/", views.change_phone, name="change_phone"),
    path("rettifica/", views.rectification, name="rectification"),
    path("dichiarazioni/<int:pk>/pdf/", views.tax_statement, name="tax_statement"),
]
